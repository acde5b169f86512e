//! `nslab show`: the live kernel drawn as a picture. The topology is gathered once from the
//! kernel layer's snapshots into a model (also the JSON output); text, SVG, DOT and Mermaid are
//! pure renderings of that model, and `diff` merges an intended topology with an observed one
//! into a model whose items are marked present, missing or extra.

mod diff;
mod dot;
pub mod escape;
mod gather;
mod layout;
mod mermaid;
mod model;
mod svg;
mod text;

pub use diff::diff;
pub use dot::dot;
pub use gather::{GatherError, Gathered, Options, Scope, Unseen, gather};
pub use mermaid::mermaid;
pub use model::{
    Address, DefaultRoute, End, Iface, LinkKind, LinkState, Mark, NsKind, NsView, Topology,
    UNNAMED_PEER, Wire,
};
pub use svg::svg;
pub use text::render_text;

use crate::kernel::Kernel;

/// The text picture of the live kernel (for demo and learn's `g`), with a line for each
/// namespace that could not be read.
pub fn text(k: &Kernel, opts: &Options) -> String {
    let ascii = opts.ascii || !utf8_terminal();
    match gather(k, opts) {
        Ok(g) => {
            let mut s = render_text(&g.topology, crate::term::width(), ascii);
            for n in g.notes() {
                s.push_str(&n);
                s.push('\n');
            }
            s
        }
        Err(e) => format!("{e}\n"),
    }
}

/// Whether the terminal takes UTF-8 (box-drawing characters), from the locale.
pub fn utf8_terminal() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .is_some_and(|v| {
            let v = v.to_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
}
