#![forbid(unsafe_code)]

fn main() {
    std::process::exit(nslab::cli::main());
}
