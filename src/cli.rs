//! The whole command-line surface, and dispatch to the modes.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::diag::{Diagnostic, Source};
use crate::exit::{Code, EXIT_CODES_HELP, Failure};
use crate::lesson::{self, Lesson};

#[derive(Parser, Debug)]
#[command(name = "nslab", version, about = "Guided Linux-networking workshops: network namespaces, veth pairs, bridges and routing, checked against the live kernel.", after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Check lessons for mistakes, without root and without touching the kernel.
    #[command(after_help = EXIT_CODES_HELP)]
    Lint {
        /// Lesson files or folders (default: the built-in lessons, or $NSLAB_LESSONS).
        paths: Vec<PathBuf>,
        /// Also list every command and whether nslab performs it natively or through /bin/sh.
        #[arg(long)]
        commands: bool,
    },
    /// Verify lessons non-interactively, each in a fresh sandbox: every check must be false
    /// before its step and true after.
    #[command(after_help = EXIT_CODES_HELP)]
    Verify {
        /// Lesson files or folders (default: the built-in lessons, or $NSLAB_LESSONS).
        paths: Vec<PathBuf>,
        /// Report format.
        #[arg(long, value_enum, default_value = "human")]
        format: crate::verify::Format,
        /// Write the report to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Verify this many lessons at once, each in its own sandbox.
        #[arg(long, short = 'j', default_value_t = 1)]
        jobs: usize,
        /// Verify only step N (earlier steps are performed, not verified).
        #[arg(long, value_name = "N")]
        step: Option<usize>,
        /// Verify steps 1 to N only.
        #[arg(long, value_name = "N")]
        until: Option<usize>,
        /// Mutation testing: remove each command line in turn and require the lesson to fail
        /// at or before that line's step.
        #[arg(long)]
        mutate: bool,
        /// Run on the host instead of in a sandbox (needs root; undoes what it made afterwards).
        #[arg(long)]
        no_sandbox: bool,
        #[arg(long, hide = true)]
        child: Option<usize>,
        #[arg(long, hide = true)]
        skip_line: Option<usize>,
    },
    /// Print an example program that a lesson uses (for instance: netns-demo).
    Example {
        /// The example's name; without it, the list of examples.
        name: Option<String>,
    },
    /// List the lessons and their numbered steps.
    #[command(after_help = EXIT_CODES_HELP)]
    List {
        /// Lesson files or folders (default: the built-in lessons, or $NSLAB_LESSONS).
        paths: Vec<PathBuf>,
    },
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Code::Usage as i32
            } else {
                0
            };
        }
    };
    match run(cli) {
        Ok(code) => code as i32,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("nslab: {}", f.message);
            }
            f.code as i32
        }
    }
}

pub fn run(cli: Cli) -> Result<Code, Failure> {
    match cli.command {
        Cmd::Lint { paths, commands } => lint(&paths, commands),
        Cmd::List { paths } => list(&paths),
        Cmd::Example { name } => example(name.as_deref()),
        Cmd::Verify {
            paths,
            format,
            output,
            jobs,
            step,
            until,
            mutate,
            no_sandbox,
            child,
            skip_line,
        } => {
            let scope = crate::verify::Scope {
                step,
                until,
                skip_line,
            };
            if let Some(index) = child {
                return crate::verify::child(&paths, index, scope, !no_sandbox);
            }
            let lessons = load_clean(&paths)?;
            if jobs == 0 {
                return Err(Failure::usage("--jobs must be at least 1"));
            }
            let opts = crate::verify::Options {
                paths,
                format,
                output,
                jobs,
                scope,
                mutate,
                sandbox: !no_sandbox,
            };
            crate::verify::verify(opts, &lessons)
        }
    }
}

/// Prints diagnostics: one line each, and on a terminal the excerpt with a caret.
pub fn print_diagnostics(diags: &[Diagnostic]) {
    let tty = std::io::stderr().is_terminal();
    for d in diags {
        let head = d.to_string();
        if tty {
            let style = if d.is_error() {
                console::style(head).red().bold()
            } else {
                console::style(head).yellow().bold()
            };
            eprintln!("{style}");
            eprintln!("{}", d.render_excerpt());
        } else {
            eprintln!("{head}");
        }
    }
}

/// Reads, parses and lints lessons. Lesson errors (or a bad path) come back as exit code 2.
pub fn load_lessons(paths: &[PathBuf]) -> Result<(Vec<Lesson>, Vec<Diagnostic>), Failure> {
    let sources: Vec<Source> = lesson::builtin::load(paths).map_err(Failure::usage)?;
    let mut lessons = Vec::new();
    let mut diags = Vec::new();
    for s in &sources {
        let (l, d) = lesson::parse::parse(s);
        diags.extend(d);
        lessons.extend(l);
    }
    diags.extend(lesson::lint::lint(&lessons));
    Ok((lessons, diags))
}

/// Loads lessons and refuses to go on if any has an error (the diagnostics are printed).
pub fn load_clean(paths: &[PathBuf]) -> Result<Vec<Lesson>, Failure> {
    let (lessons, diags) = load_lessons(paths)?;
    if diags.iter().any(Diagnostic::is_error) {
        print_diagnostics(&diags);
        let n = diags.iter().filter(|d| d.is_error()).count();
        return Err(Failure::usage(format!(
            "{n} error(s) in the lessons; nothing was performed (run `nslab lint` for details)"
        )));
    }
    Ok(lessons)
}

fn lint(paths: &[PathBuf], commands: bool) -> Result<Code, Failure> {
    let (lessons, diags) = load_lessons(paths)?;
    print_diagnostics(&diags);
    if commands {
        for l in &lessons {
            for s in &l.steps {
                for c in &s.commands {
                    let how = if c.command.is_native() {
                        "native"
                    } else {
                        "shell "
                    };
                    println!("{}:{}: {how} {}", l.source.name, c.line, c.text);
                }
            }
        }
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    eprintln!(
        "{} lesson(s) checked: {errors} error(s), {warnings} warning(s)",
        lessons.len()
    );
    Ok(if errors > 0 {
        Code::Usage
    } else {
        Code::Success
    })
}

fn list(paths: &[PathBuf]) -> Result<Code, Failure> {
    let lessons = load_clean(paths)?;
    for l in &lessons {
        let minutes = l.minutes.map(|m| format!(" ({m} min)")).unwrap_or_default();
        println!("{}  {}{minutes}", console::style(&l.id).bold(), l.title);
        for s in &l.steps {
            println!("  {:>2}. {}", s.index, s.title);
        }
    }
    Ok(Code::Success)
}

/// Example programs that lessons compile, carried in the binary so that nslab needs nothing
/// beside it.
pub const EXAMPLES: &[(&str, &str)] = &[("netns-demo", include_str!("../examples/netns-demo.c"))];

fn example(name: Option<&str>) -> Result<Code, Failure> {
    match name {
        None => {
            for (n, _) in EXAMPLES {
                println!("{n}");
            }
            Ok(Code::Success)
        }
        Some(n) => match EXAMPLES.iter().find(|(e, _)| *e == n) {
            Some((_, src)) => {
                print!("{src}");
                Ok(Code::Success)
            }
            None => {
                let names: Vec<&str> = EXAMPLES.iter().map(|(e, _)| *e).collect();
                Err(Failure::usage(format!(
                    "no example called '{n}'{} (there are: {})",
                    crate::diag::did_you_mean(n, &names),
                    names.join(", ")
                )))
            }
        },
    }
}
