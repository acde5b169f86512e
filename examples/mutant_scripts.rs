//! Bench helper (bench/mutant-scripts.sh): writes, for every mutant `nslab verify --mutate`
//! runs, the plain shell script of what that mutant performs: the lesson's lines up to the
//! mutant's step, its own line left out, and no check. A ping gets nslab's bound (a reply within
//! 200 ms) and no pause between echoes.
//!
//! Usage: mutant_scripts OUTDIR LESSON...
use std::io::Write;
use std::path::PathBuf;

use nslab::lesson::grammar::Op;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: mutant_scripts OUTDIR LESSON...");
        std::process::exit(2);
    };
    let paths: Vec<PathBuf> = args.map(PathBuf::from).collect();
    let lessons = match nslab::lesson::load::lessons(&paths) {
        Ok((lessons, diags)) if diags.is_empty() => lessons,
        Ok(_) => fail("the lessons have diagnostics: run nslab lint"),
        Err(e) => fail(&e),
    };
    if let Err(e) = std::fs::create_dir_all(&out) {
        fail(&format!("{}: {e}", out.display()));
    }
    let mut n = 0;
    for l in &lessons {
        for s in &l.steps {
            for skip in s.commands.iter().filter(|c| !c.observe) {
                n += 1;
                let mut script = String::from("set -e\n");
                for t in l.steps.iter().take_while(|t| t.index <= s.index) {
                    for c in t.setup.iter().chain(&t.commands) {
                        if t.index == s.index && c.line == skip.line {
                            continue;
                        }
                        // A line that is one ping, and nothing else, ends with its arguments.
                        let ping =
                            matches!(&c.command.parts[..], [p] if matches!(p.op, Op::Ping(_)));
                        let bound = if ping { " -i 0.002 -W 0.2" } else { "" };
                        let fails = if c.expect_failure { " || true" } else { "" };
                        script += &format!("{{ {}{bound}\n}} >/dev/null 2>&1{fails}\n", c.text);
                    }
                }
                let path = out.join(format!("{n:03}-{}-{}.sh", l.id, skip.line));
                if let Err(e) =
                    std::fs::File::create(&path).and_then(|mut f| f.write_all(script.as_bytes()))
                {
                    fail(&format!("{}: {e}", path.display()));
                }
            }
        }
    }
    eprintln!("{n} mutant scripts in {}", out.display());
}

fn fail(why: &str) -> ! {
    eprintln!("mutant_scripts: {why}");
    std::process::exit(1);
}
