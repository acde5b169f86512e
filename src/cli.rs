//! The whole command-line surface, and dispatch to the modes.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::diag::Diagnostic;
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
    /// Verify lessons non-interactively, each in a fresh jail: every check must be false
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
        /// Verify this many lessons (or mutants) at once, each in its own sandbox (default: four
        /// per core, as most of a verification is waiting for the kernel).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
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
        /// Verify only part I of N of the lessons (sorted by id and dealt round-robin), so that
        /// a CI matrix of N jobs shares the work.
        #[arg(long, value_name = "I/N", value_parser = crate::verify::parse_shard)]
        shard: Option<(usize, usize)>,
        /// The longest one lesson (or one mutant) may take, its jail included: a lesson still
        /// running then is ended with everything it started, and fails (default: 600).
        #[arg(long, value_name = "SECONDS", value_parser = crate::verify::parse_timeout)]
        timeout: Option<std::time::Duration>,
        /// Run on the host instead of in a jail: only for lessons you trust (needs root; undoes
        /// what it made afterwards).
        #[arg(long)]
        no_sandbox: bool,
        /// Internal: a verify worker, reading its lesson on standard input.
        #[arg(long, hide = true)]
        worker: bool,
    },
    /// Take a lesson at your own pace: nslab shows each step and ticks its checks the moment
    /// your commands (typed in your own shell) land in the kernel.
    #[command(after_help = LEARN_HELP)]
    Learn {
        /// The lesson: its id, its number in `nslab list`, or a lesson file (default: where you
        /// left off).
        lesson: Option<String>,
        /// Start at step N (the earlier steps' state is made first, if the kernel lacks it).
        #[arg(long, value_name = "N")]
        step: Option<usize>,
        /// Wait for Enter after each verified step instead of moving on at once.
        #[arg(long)]
        pause: bool,
    },
    /// Present a lesson on a projector: each command typed out and performed, the checks shown
    /// passing, and the topology after each step.
    #[command(after_help = DEMO_HELP)]
    Demo {
        /// The lesson: its id, its number in `nslab list`, or a lesson file.
        lesson: Option<String>,
        /// Start at step N.
        #[arg(long, value_name = "N")]
        step: Option<usize>,
        /// Go on to the next step by itself after SECONDS.
        #[arg(long, value_name = "SECONDS")]
        auto: Option<f64>,
    },
    /// Remove what lessons made on this machine, and nothing else: what their commands make
    /// (yours included) and that was not there when nslab first saw the lesson begin here.
    #[command(after_help = RESET_HELP)]
    Reset {
        /// The lessons: ids, numbers in `nslab list`, or lesson files (default: every lesson
        /// that began on this machine).
        lessons: Vec<String>,
        /// Show what would be removed, and why it is the lesson's; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask; also forget the progress of finished lessons (for scripts).
        #[arg(long, short = 'y')]
        yes: bool,
        /// For a lesson nslab has no baseline of (it did not see it begin on this machine):
        /// remove everything that has a name the lesson makes, whoever made it.
        #[arg(long)]
        by_name: bool,
    },
    /// Draw the network namespaces, their interfaces, addresses and the wires between them.
    #[command(after_help = EXIT_CODES_HELP)]
    Show {
        /// Only these namespaces ("root" for the root one, "pid N" for process N's).
        #[arg(long, value_name = "NAME")]
        netns: Vec<String>,
        /// Draw what a lesson means to build instead of the kernel (no root needed): its id,
        /// its number in `nslab list`, or a lesson file.
        #[arg(long, value_name = "ID", conflicts_with_all = ["netns", "all", "watch"])]
        lesson: Option<String>,
        /// With --lesson: as it stands after step N (default: after the last step).
        #[arg(long, value_name = "N", requires = "lesson")]
        step: Option<usize>,
        /// Also the namespaces that only a process holds (other tools' sandboxes, browsers);
        /// by default only the root namespace and the named ones (/run/netns).
        #[arg(long, conflicts_with = "netns")]
        all: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: ShowFormat,
        /// Write to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Draw again whenever the kernel changes (until Ctrl-C).
        #[arg(long)]
        watch: bool,
        /// Plain ASCII instead of box-drawing characters.
        #[arg(long)]
        ascii: bool,
    },
    /// Print shell completions for bash, zsh or fish.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), generated from nslab's own command line.
    Man,
    /// Print an example program that a lesson uses (for instance: netns-demo).
    Example {
        /// The example's name; without it, the list of examples.
        name: Option<String>,
    },
    /// List the lessons, their numbered steps, and your progress in each.
    #[command(after_help = EXIT_CODES_HELP)]
    List {
        /// Lesson files or folders (default: the built-in lessons, or $NSLAB_LESSONS).
        paths: Vec<PathBuf>,
        /// `json` is what an instructor collects from each machine (see docs/list-json.md).
        #[arg(long, value_enum, default_value = "text")]
        format: TextOrJson,
    },
    /// For instructors: the progress of a whole class.
    #[command(after_help = EXIT_CODES_HELP)]
    Class {
        #[command(subcommand)]
        command: ClassCmd,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClassCmd {
    /// One table from the `nslab list --format json` of every student's machine: who is at
    /// which step, and who has been stuck longest. Exits 1 if a file could not be read.
    #[command(after_help = EXIT_CODES_HELP)]
    Report {
        /// The JSON files, or folders of them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: TextOrJson,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

pub fn main() -> i32 {
    if let Some(code) = internal() {
        return code;
    }
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
            let message = f.to_string();
            if !message.is_empty() {
                eprintln!("nslab: {message}");
            }
            f.code() as i32
        }
    }
}

/// nslab's own helpers, which nslab starts as `nslab __jail -- ARGS` (the builder of verify's
/// jail) and `nslab __lines` (the helper that runs shell lines). They are no part of the command
/// line a user sees (help, man page, completions): dispatched here, before clap. Returns their
/// exit code, or none for any other command line.
fn internal() -> Option<i32> {
    use crate::kernel::sandbox;
    let mut args = std::env::args_os().skip(1);
    let first = args.next()?;
    if first == sandbox::JAIL_SUBCOMMAND {
        let rest: Vec<OsString> = args.skip_while(|a| a != "--").skip(1).collect();
        Some(sandbox::build_jail(&rest))
    } else if first == sandbox::LINES_SUBCOMMAND {
        Some(sandbox::serve_lines())
    } else {
        None
    }
}

pub fn run(cli: Cli) -> Result<Code, Failure> {
    match cli.command {
        Cmd::Lint { paths, commands } => lint(&paths, commands),
        Cmd::List { paths, format } => list(&paths, format),
        Cmd::Class {
            command: ClassCmd::Report { files, format },
        } => class_report(&files, format),
        Cmd::Example { name } => example(name.as_deref()),
        Cmd::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "nslab",
                &mut std::io::stdout(),
            );
            Ok(Code::Success)
        }
        Cmd::Man => {
            let page = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
            page.render(&mut std::io::stdout())
                .map_err(|e| Failure::env(e.to_string()))?;
            Ok(Code::Success)
        }
        Cmd::Learn {
            lesson,
            step,
            pause,
        } => learn(lesson.as_deref(), step, pause),
        Cmd::Demo { lesson, step, auto } => demo(lesson.as_deref(), step, auto),
        Cmd::Reset {
            lessons,
            dry_run,
            yes,
            by_name,
        } => reset(&lessons, dry_run, yes, by_name),
        Cmd::Show {
            lesson: Some(which),
            step,
            format,
            output,
            ascii,
            ..
        } => show_lesson(&which, step, format, output, ascii),
        Cmd::Show {
            netns,
            all,
            format,
            output,
            watch,
            ascii,
            ..
        } => show(netns, all, format, output, watch, ascii),
        Cmd::Verify {
            paths,
            format,
            output,
            jobs,
            step,
            until,
            mutate,
            shard,
            timeout,
            no_sandbox,
            worker,
        } => {
            if worker {
                return crate::verify::worker();
            }
            let lessons = load_clean(&paths)?;
            if jobs == Some(0) {
                return Err(Failure::usage("--jobs must be at least 1"));
            }
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let opts = crate::verify::Options {
                paths,
                format,
                output,
                // Most of verify is waiting for the kernel (a probe's bound, a teardown, a
                // grace period): four lessons or mutants per core keep the cores busy.
                jobs: jobs.unwrap_or(cores * 4),
                scope: crate::verify::Scope {
                    step,
                    until,
                    ..Default::default()
                },
                mutate,
                sandbox: !no_sandbox,
                shard,
                timeout: timeout.unwrap_or(crate::verify::DEFAULT_LESSON_TIMEOUT),
            };
            crate::verify::verify(opts, &lessons)
        }
    }
}

/// Reads, parses and lints lessons. A path that names no lesson is a usage error (exit 2).
pub fn load_lessons(paths: &[PathBuf]) -> Result<(Vec<Lesson>, Vec<Diagnostic>), Failure> {
    lesson::load::lessons(paths).map_err(Failure::usage)
}

/// Loads lessons and refuses to go on if any has an error (the diagnostics are printed).
pub fn load_clean(paths: &[PathBuf]) -> Result<Vec<Lesson>, Failure> {
    let (lessons, diags) = load_lessons(paths)?;
    if diags.iter().any(Diagnostic::is_error) {
        crate::diag::print(&diags);
        let n = diags.iter().filter(|d| d.is_error()).count();
        return Err(Failure::usage(format!(
            "{n} error(s) in the lessons; nothing was performed (run `nslab lint` for details)"
        )));
    }
    Ok(lessons)
}

fn lint(paths: &[PathBuf], commands: bool) -> Result<Code, Failure> {
    let (sources, read_errors) = lesson::load::sources(paths).map_err(Failure::usage)?;
    let mut lessons = Vec::new();
    // Every file counts as checked, those nslab could not read as text too.
    let checked = sources.len() + read_errors.len();
    let mut diags = read_errors;
    for src in &sources {
        let (l, d) = lesson::parse::parse(src);
        diags.extend(d);
        lessons.extend(l);
    }
    diags.extend(lesson::lint::lint(&lessons));
    crate::diag::print(&diags);
    if commands {
        for l in &lessons {
            for s in &l.steps {
                for c in &s.commands {
                    let how = match &c.command.run {
                        lesson::grammar::Run::Native => "native".to_string(),
                        lesson::grammar::Run::Real { why } => format!("real   ({why})"),
                    };
                    // What --mutate leaves out (a line that acts) and what it does not.
                    let does = if c.observe { "observes" } else { "acts" };
                    println!(
                        "{}:{}: {does:<8} {how}: {}",
                        l.source.name,
                        c.line,
                        crate::term::printable(&c.text)
                    );
                }
            }
        }
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    eprintln!("{checked} lesson(s) checked: {errors} error(s), {warnings} warning(s)");
    Ok(if errors > 0 {
        Code::Usage
    } else {
        Code::Success
    })
}

fn list(paths: &[PathBuf], format: TextOrJson) -> Result<Code, Failure> {
    let lessons = load_clean(paths)?;
    let store = crate::progress::Store::default();
    let loaded = store.read()?;
    if let Some(path) = store.path() {
        crate::progress::print_warnings(path, &loaded.warnings);
    }
    let mut machine = crate::class::Machine::collect(
        &lessons,
        &loaded.progress,
        crate::class::this_machine(),
        crate::progress::now(),
    );
    machine.progress_file = store.path().map(|p| p.display().to_string());
    machine.warnings = loaded.warnings.iter().map(|w| w.to_string()).collect();
    match format {
        TextOrJson::Text => print!("{}", machine.render_list(!crate::show::utf8_terminal())),
        TextOrJson::Json => println!(
            "{}",
            serde_json::to_string_pretty(&machine).map_err(|e| Failure::env(e.to_string()))?
        ),
    }
    Ok(Code::Success)
}

/// `nslab class report`: bad files are named on standard error and left out; exit 1 if any.
fn class_report(files: &[PathBuf], format: TextOrJson) -> Result<Code, Failure> {
    let report = crate::class::Report::new(crate::class::read_inputs(files));
    for b in &report.bad_files {
        eprintln!("nslab: {}: {}; left out", b.file, b.error);
    }
    match format {
        TextOrJson::Text => print!("{}", report.render()),
        TextOrJson::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Failure::env(e.to_string()))?
        ),
    }
    Ok(if report.bad_files.is_empty() {
        Code::Success
    } else {
        Code::Failed
    })
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

const LEARN_HELP: &str = "\
Type the step's commands in your own shell; the lesson's pane only takes keys. A line typed
there by mistake changes nothing. Keys (see docs/learn.md):
  h  hint; again: every failing check, what nslab expected and found, and a command to try;
     again: the commands
  d  do it for me (nslab performs the step; asks first)
  n  skip the step (asks first)    b  back to the previous step (shown; Enter goes on)
  t  a shell for the lesson; its prompt starts with (nslab lesson); exit comes back
  g  the picture: the lesson's namespaces as the step means them, against the kernel
  f  rebuild what an earlier step (or this step's setup) made and is gone (asks first)
  r  reset the lesson (asks first) a  answer the question (Enter checks it, Esc leaves it)
  Up/Down, PgUp/PgDn, Home/End     scroll the text
  ?  the keys                      q  quit (Ctrl-C too); your progress is kept

Exit codes:
  0    success
  1    a step or check failed
  2    a lesson or usage error (nothing was performed)
  3    the environment cannot run it (no terminal, no privilege for namespaces, the
       lesson running here already in another learn or demo)
  130  interrupted (you quit; `nslab learn` resumes where you left)";

const DEMO_HELP: &str = "\
Keys during the demo:
  space, Enter, n  the next step
  b  the step before, shown again (its commands are not performed again)
  Up/Down, PgUp/PgDn, Home/End  scroll the text, the output and the picture
  q, Ctrl-C  stop at once, also while a command is typed out or a ping paces
NSLAB_TYPING_MS sets the typing speed (milliseconds a character; 0 prints at once).

Exit codes:
  0    the lesson ran to its end and every step performed passed
  1    it ran to its end, and a step failed (a check did not hold, or a line failed): the
       steps that failed are named at the end; with --step N, the steps before N that demo
       performs first count too
  2    a lesson or usage error (nothing was performed)
  3    the environment cannot run it (no terminal, no privilege for namespaces, the
       lesson running here already in another learn or demo)
  130  interrupted (q or Ctrl-C)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFormat {
    Text,
    Svg,
    Dot,
    Json,
    /// A Mermaid flowchart, for Markdown on a forge.
    Mermaid,
}

/// Finds the lesson a mode is asked for: a lesson file, or an id or number among the lessons.
fn pick(which: Option<&str>) -> Result<Lesson, Failure> {
    Ok(pick_from(which)?.0)
}

/// The same, with the names of the lessons it was chosen from: a sandbox must still show those
/// that are files under /tmp to the same choice made again inside it.
fn pick_from(which: Option<&str>) -> Result<(Lesson, Vec<PathBuf>), Failure> {
    // The progress only matters to pick the lesson where the student left off.
    let progress = match which {
        None => crate::progress::Store::default().read()?.progress,
        Some(_) => crate::progress::Progress::default(),
    };
    let file = which.filter(|w| std::path::Path::new(w).is_file());
    let lessons = load_clean(&file.map(PathBuf::from).into_iter().collect::<Vec<_>>())?;
    let files = lessons
        .iter()
        .map(|l| PathBuf::from(&l.source.name))
        .collect();
    let id = which.filter(|_| file.is_none());
    Ok((crate::modes::select(lessons, id, &progress)?, files))
}

/// What learn and demo need before they start: a terminal, the lesson, where to act (on the
/// machine, or in a sandbox this process re-runs itself in), and the engine.
fn interactive(
    mode: &str,
    which: Option<&str>,
    pace: crate::engine::Pace,
) -> Result<Result<(Lesson, crate::modes::Place, crate::engine::Engine), Code>, Failure> {
    if let Some(id) = std::env::var_os(crate::modes::learn::IN_LESSON_ENV) {
        return Err(Failure::usage(format!(
            "this is the shell that nslab learn opened for the lesson {}: type exit to go back to the lesson",
            id.to_string_lossy()
        )));
    }
    crate::modes::require_terminal(mode)?;
    let (lesson, files) = pick_from(which)?;
    let place = crate::modes::place(&files)?;
    if let crate::modes::Place::Done(code) = place {
        return Ok(Err(code));
    }
    if matches!(place, crate::modes::Place::Host) {
        crate::modes::session::hold(&lesson.id).map_err(Failure::env)?;
    }
    // SIGTERM and SIGHUP leave like Ctrl-C: the terminal restored, exit 130 (src/signals.rs).
    crate::signals::watch(crate::signals::OnSignal::Leave)
        .map_err(|e| Failure::env(format!("cannot watch for signals: {e}")))?;
    let engine = crate::modes::engine(&place, pace)?;
    Ok(Ok((lesson, place, engine)))
}

fn learn(which: Option<&str>, step: Option<usize>, pause: bool) -> Result<Code, Failure> {
    // Every lesson, for the end screen's "next lesson" (the built-in ones, or $NSLAB_LESSONS).
    let lessons = load_clean(&[])
        .map(|ls| ls.into_iter().map(|l| (l.id, l.title)).collect())
        .unwrap_or_default();
    match interactive("learn", which, crate::engine::Pace::Fast)? {
        Ok((lesson, place, mut engine)) => {
            // A lesson from a file is named again by that file, as it was given: its id names
            // no lesson `nslab learn` knows.
            let resume = match which.filter(|w| std::path::Path::new(w).is_file()) {
                Some(path) => shell_word(path),
                None => lesson.id.clone(),
            };
            crate::modes::learn::learn(
                &lesson,
                &mut engine,
                &place,
                crate::modes::learn::Options {
                    step,
                    pause,
                    lessons,
                    resume,
                },
            )
        }
        Err(code) => Ok(code),
    }
}

/// A word as a shell reads it back: quoted when it holds anything but plain characters.
fn shell_word(w: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./,:=+@%".contains(c);
    if !w.is_empty() && w.chars().all(plain) {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

fn demo(which: Option<&str>, step: Option<usize>, auto: Option<f64>) -> Result<Code, Failure> {
    if auto.is_some_and(|a| !a.is_finite() || a < 0.0) {
        return Err(Failure::usage("--auto takes a number of seconds"));
    }
    match interactive("demo", which, crate::engine::Pace::Real)? {
        Ok((lesson, place, mut engine)) => crate::modes::demo::demo(
            &lesson,
            &mut engine,
            &place,
            crate::modes::demo::Options { step, auto },
        ),
        Err(code) => Ok(code),
    }
}

/// `nslab reset`: plans every lesson's reset from its baseline, shows the plan, asks (on a
/// terminal, without --yes), carries it out and reports every failure (exit 1 if any).
fn reset(which: &[String], dry_run: bool, yes: bool, by_name: bool) -> Result<Code, Failure> {
    use crate::modes::reset::{self as r, Basis};
    if !nix::unistd::Uid::effective().is_root() {
        return Err(Failure::env(
            "nslab reset changes this machine's network and needs root: sudo nslab reset. (Without root, learn and demo run in a sandbox that vanishes by itself.)",
        ));
    }
    let named = !which.is_empty();
    // Read before the kernel is touched: a progress file or ledger nslab cannot use stops reset
    // here.
    let store = crate::progress::Store::default();
    let progress = store.read()?.progress;
    let ledger_store = crate::engine::ledger::file::Store::default();
    let ledger = ledger_store.read()?;
    if let Some(path) = ledger_store.path() {
        for w in &ledger.warnings {
            eprintln!("nslab: warning: {}: {w}", path.display());
        }
    }
    // A name that is no lesson nslab has now (a lesson taken from a file) but is in the
    // ledger: its baseline says what it makes, and is enough to reset it.
    let mut lessons = Vec::new();
    let mut from_ledger: Vec<String> = Vec::new();
    if named {
        for w in which {
            match pick(Some(w)) {
                Ok(l) => lessons.push(l),
                Err(_) if ledger.lessons.contains_key(w.as_str()) => from_ledger.push(w.clone()),
                Err(e) => return Err(e),
            }
        }
    } else {
        lessons = load_clean(&[])?;
    }
    let kernel = crate::kernel::Kernel::new().map_err(|e| Failure::env(e.to_string()))?;
    // Every lesson asked for; without names, also those of the ledger whose file nslab no
    // longer has (the baseline says what they make).
    let mut ids: Vec<String> = lessons.iter().map(|l| l.id.clone()).collect();
    ids.extend(from_ledger.iter().cloned());
    if !named {
        ids.extend(
            ledger
                .lessons
                .keys()
                .filter(|id| !ids.contains(id))
                .cloned()
                .collect::<Vec<_>>(),
        );
    }
    let mut plans = Vec::new();
    let mut without = Vec::new();
    // A lesson that learn or demo is running now is left alone: its lab would go from under
    // it, and its baseline with it (learn writes what the student makes into that).
    let mut busy = Vec::new();
    for id in &ids {
        if let Some(who) = crate::modes::session::running(id) {
            busy.push((id.clone(), who));
            continue;
        }
        let lesson = lessons.iter().find(|l| &l.id == id);
        // A baseline of an earlier boot describes a machine that is gone: a restart took what
        // the lesson made in the kernel with it.
        if ledger.lessons.contains_key(id) && r::current(&ledger, id).is_none() {
            println!("{id}: {STALE}");
            if !dry_run {
                r::forget(id)?;
            }
        }
        let (b, basis) = match (r::current(&ledger, id), lesson) {
            (Some(b), _) => (b.clone(), Basis::Baseline),
            (None, Some(l)) if by_name => (r::by_name(&kernel, l, progress.get(id)), Basis::ByName),
            _ => {
                without.push(id.as_str());
                continue;
            }
        };
        let p = r::plan_now(&kernel, id, &b, basis).map_err(Failure::env)?;
        plans.push((p, b, basis));
    }
    for (id, who) in &busy {
        eprintln!(
            "nslab: {id}: {who} is running this lesson: nothing of it is removed. Press r in learn to reset its lab there, or quit it (q) and reset then"
        );
    }
    for (p, _, _) in &plans {
        for line in p.lines() {
            println!("{}", crate::term::printable(&line));
        }
    }
    if named {
        for id in &without {
            println!("{id}: {} ({BY_NAME_HINT} {id})", r::NO_BASELINE);
        }
    }
    let total: usize = plans.iter().map(|(p, _, _)| p.actions.len()).sum();
    if total == 0 && plans.is_empty() && !busy.is_empty() {
        // Every lesson asked for runs: said above.
    } else if total == 0 && !without.is_empty() && !named && plans.is_empty() {
        println!("No lesson began on this machine since nslab keeps a ledger: nothing to remove.");
    } else if total == 0 {
        println!("Nothing to remove.");
    }
    let finished: Vec<&str> = lessons
        .iter()
        .map(|l| l.id.as_str())
        .chain(from_ledger.iter().map(String::as_str))
        .filter(|id| progress.get(id).is_some_and(|p| p.done()))
        .collect();
    let busy_failure = || {
        Failure::env(format!(
            "{} of the lessons asked for {} running: not reset",
            busy.len(),
            if busy.len() == 1 { "is" } else { "are" }
        ))
    };
    if dry_run {
        println!("(dry run: nothing was changed)");
        return if busy.is_empty() {
            Ok(Code::Success)
        } else {
            Err(busy_failure())
        };
    }
    let terminal = std::io::stdin().is_terminal();
    let by_name_acts = plans
        .iter()
        .any(|(p, _, basis)| *basis == Basis::ByName && !p.is_empty());
    let forget_finished = if yes {
        true
    } else if terminal && (total > 0 || !finished.is_empty()) {
        if !ask(total, &finished) {
            println!("Nothing was changed.");
            return Ok(Code::Success);
        }
        true
    } else if by_name_acts {
        return Err(Failure::usage(BY_NAME_UNASKED));
    } else {
        false
    };
    let mut failed = false;
    for (p, b, basis) in &plans {
        if p.is_empty() && *basis == Basis::ByName {
            continue;
        }
        let u = r::carry_out(&kernel, p, b);
        for d in &u.done {
            println!("{}: {}", p.lesson, crate::term::printable(d));
        }
        for f in &u.failed {
            eprintln!("nslab: {}: {}", p.lesson, crate::term::printable(f));
        }
        failed |= !u.failed.is_empty();
        // Nothing of the lesson's is left: its baseline has served.
        if u.failed.is_empty() && *basis == Basis::Baseline {
            r::forget(&p.lesson)?;
        }
    }
    let ids: Vec<&str> = lessons
        .iter()
        .map(|l| l.id.as_str())
        .chain(from_ledger.iter().map(String::as_str))
        .filter(|id| !busy.iter().any(|(b, _)| b == id))
        .collect();
    let kept = store.update(|p| p.forget_reset(&ids, forget_finished))?;
    for id in kept {
        println!("{id}: finished; its progress is kept (nslab reset --yes {id} forgets it)");
    }
    if !busy.is_empty() {
        return Err(busy_failure());
    }
    Ok(if failed { Code::Failed } else { Code::Success })
}

/// One question for everything: the things listed above, and the finished lessons' progress.
fn ask(total: usize, finished: &[&str]) -> bool {
    let things = match total {
        0 => None,
        1 => Some("Remove the thing listed above".to_string()),
        n => Some(format!("Remove the {n} things listed above")),
    };
    let question = match (things, finished.is_empty()) {
        (Some(t), true) => format!("{t}?"),
        (Some(t), false) => format!("{t}, and forget that you finished {}?", finished.join(", ")),
        (None, _) => format!("You finished {}. Forget that as well?", finished.join(", ")),
    };
    print!("{question} [y/N] ");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok()
        && matches!(answer.trim(), "y" | "Y" | "yes" | "Yes")
}

const BY_NAME_HINT: &str = "nslab reset --by-name";

const STALE: &str = "its baseline was taken before this machine restarted, which took what the lesson made in the kernel with it; the baseline is forgotten (files the lesson wrote may remain)";

const BY_NAME_UNASKED: &str = "--by-name removes everything that has a name the lesson makes, yours included, and there is no terminal to ask: add --yes if that is what you want (--dry-run shows what it would remove)";

const RESET_HELP: &str = "\
When a lesson begins on a machine (learn opens it, demo starts it, verify --no-sandbox runs it),
nslab records in its ledger (ledger.json, next to progress.json) what of the lesson's things were
there already. Reset removes what the lesson makes and was not there then, each item with the
reason it is the lesson's, and sets the sysctls it wrote back. It shows the list and asks first on
a terminal (--yes: do not ask); without a terminal it goes ahead, except with --by-name.
A lesson that learn or demo runs now is left alone (press r in learn, or quit it first).

Exit codes:
  0    success (or nothing to remove)
  1    something could not be removed (each failure is named)
  2    a lesson or usage error (nothing was changed)
  3    the environment cannot run it (not root), or a lesson asked for runs now in learn or
       demo (the others are reset)";

fn show(
    netns: Vec<String>,
    all: bool,
    format: ShowFormat,
    output: Option<PathBuf>,
    watch: bool,
    ascii: bool,
) -> Result<Code, Failure> {
    use crate::show::{Options, Scope};
    let kernel = crate::kernel::Kernel::new().map_err(|e| Failure::env(e.to_string()))?;
    let scope = match (netns.is_empty(), all) {
        (false, _) => Scope::Only(netns.iter().map(|n| lesson::Ns::from_name(n)).collect()),
        (true, true) => Scope::All,
        (true, false) => Scope::Lab,
    };
    let opts = Options { scope, ascii };
    // --watch on a terminal: each picture fits the screen (a list when the boxes do not fit,
    // cut when even that is too long), redrawn in place, and again when the terminal is
    // resized.
    let fit = watch
        && output.is_none()
        && format == ShowFormat::Text
        && std::io::IsTerminal::is_terminal(&std::io::stdout());
    // What could not be read is said once, not at every redraw of --watch.
    let mut said: Vec<String> = Vec::new();
    let mut draw = |k: &crate::kernel::Kernel| -> Result<String, Failure> {
        let g = crate::show::gather(k, &opts).map_err(|e| Failure::usage(e.to_string()))?;
        let notes = g.notes();
        if notes != said {
            for n in &notes {
                eprintln!("nslab: {n}");
            }
            said = notes;
        }
        if g.topology.namespaces.is_empty() {
            return Err(Failure::env(SHOW_NOTHING));
        }
        let t = &g.topology;
        Ok(match format {
            ShowFormat::Text if fit => {
                let (w, h) = crate::term::size();
                crate::show::render_fit(t, w, h, opts.ascii || !crate::show::utf8_terminal())
            }
            ShowFormat::Text => crate::show::render_text(
                t,
                crate::term::width(),
                opts.ascii || !crate::show::utf8_terminal(),
            ),
            ShowFormat::Svg => crate::show::svg(t),
            ShowFormat::Dot => crate::show::dot(t),
            ShowFormat::Mermaid => crate::show::mermaid(t),
            ShowFormat::Json => {
                serde_json::to_string_pretty(t).map_err(|e| Failure::env(e.to_string()))? + "\n"
            }
        })
    };
    let emit = |text: &str, clear: bool| -> Result<(), Failure> {
        match &output {
            Some(p) => std::fs::write(p, text)
                .map_err(|e| Failure::env(format!("cannot write {}: {e}", p.display()))),
            None if fit => {
                // From the top, each line cleared to its end, the rest of the screen cleared:
                // the frame never scrolls the terminal (no newline after its last line).
                let frame = text.trim_end_matches('\n').replace('\n', "\x1b[K\r\n");
                print!("\x1b[H{frame}\x1b[K\x1b[J");
                let _ = std::io::Write::flush(&mut std::io::stdout());
                Ok(())
            }
            None => {
                if clear {
                    let _ = console::Term::stdout().clear_screen();
                }
                print!("{text}");
                Ok(())
            }
        }
    };
    if fit {
        let _ = console::Term::stdout().clear_screen();
    }
    emit(&draw(&kernel)?, false)?;
    if !watch {
        return Ok(Code::Success);
    }
    let (mut watcher, mut watched) = kernel
        .watch_all()
        .map_err(|e| Failure::env(e.to_string()))?;
    let size = crate::term::size;
    let mut drawn_for = size();
    loop {
        if !watcher.wait(std::time::Duration::from_millis(250)) {
            if fit && size() != drawn_for {
                drawn_for = size();
                emit(&draw(&kernel)?, true)?;
            }
            continue;
        }
        drawn_for = size();
        if kernel.watched_changed(&watched) {
            (watcher, watched) = kernel
                .watch_all()
                .map_err(|e| Failure::env(e.to_string()))?;
        }
        emit(&draw(&kernel)?, format == ShowFormat::Text)?;
    }
}

/// `nslab show --lesson`: the lesson's intended topology after a step, from the effect model
/// alone (no kernel, no root).
fn show_lesson(
    which: &str,
    step: Option<usize>,
    format: ShowFormat,
    output: Option<PathBuf>,
    ascii: bool,
) -> Result<Code, Failure> {
    let lesson = pick(Some(which))?;
    if let Some(s) = step {
        lesson.step_number("--step", s).map_err(Failure::usage)?;
    }
    let t = crate::show::intended(&crate::show::world_after(&lesson, step));
    if t.namespaces.is_empty() {
        eprintln!(
            "nslab: the lesson {} has no namespace after {}; --step N draws an earlier state",
            lesson.id,
            step.map_or("its last step".to_string(), |s| format!("step {s}"))
        );
    }
    let text = match format {
        ShowFormat::Text => crate::show::render_text(
            &t,
            crate::term::width(),
            ascii || !crate::show::utf8_terminal(),
        ),
        ShowFormat::Svg => crate::show::svg(&t),
        ShowFormat::Dot => crate::show::dot(&t),
        ShowFormat::Mermaid => crate::show::mermaid(&t),
        ShowFormat::Json => {
            serde_json::to_string_pretty(&t).map_err(|e| Failure::env(e.to_string()))? + "\n"
        }
    };
    match output {
        Some(p) => std::fs::write(&p, text)
            .map_err(|e| Failure::env(format!("cannot write {}: {e}", p.display())))?,
        None => print!("{text}"),
    }
    Ok(Code::Success)
}

/// Why `show` exits 3 having drawn nothing (the lines before it say what it could not see).
const SHOW_NOTHING: &str = "nothing to draw: none of the namespaces asked for could be read";
