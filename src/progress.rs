//! The student's progress, per lesson, in the XDG state folder. This module is the only reader
//! and writer of that file; docs/progress-file.md describes its format field by field.
//!
//! Every change is written through at once ([`Store::update`]): under an exclusive lock, the file
//! is read again, the change is applied to what it holds now, and the result goes to a new file
//! renamed over the old one. A session never writes back a copy it read earlier, so two learn
//! sessions, or learn and `nslab reset`, keep each other's changes.
//!
//! Reading is defensive: the file is checked to be a regular file before it is opened (a FIFO
//! would block an `open` for reading), and each field is validated on its own, so that a damaged
//! field loses only itself. The file as it was is kept as a backup before anything replaces it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::state;

/// The format this nslab writes. Version 1 (no `version` field) is read and upgraded.
pub const VERSION: u64 = 2;

/// A progress file is a few kilobytes; anything much larger is not one.
const MAX_SIZE: u64 = 4 << 20;

/// How long a change waits for another nslab's change to finish (each holds the lock for the
/// time of one small read and write).
const LOCK_WAIT: Duration = state::LOCK_WAIT;

/// How a step was passed. The order matters: a step's state only moves up it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    /// The student moved on without the checks passing (the `n` key).
    Skipped,
    /// nslab performed the step's commands for the student (the `d` key).
    Performed,
    /// The student's own commands made the step's checks pass.
    Verified,
}

impl StepState {
    pub const ALL: [StepState; 3] = [
        StepState::Verified,
        StepState::Performed,
        StepState::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Skipped => "skipped",
            StepState::Performed => "performed",
            StepState::Verified => "verified",
        }
    }

    fn parse(s: &str) -> Option<StepState> {
        StepState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One lesson's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LessonProgress {
    /// The step to resume at (1-based); one past the last step once the student passed it.
    pub step: usize,
    /// When the student reached `step` (unix seconds): how long they have been at it.
    pub since: Option<u64>,
    /// When the student first passed the lesson's last step (unix seconds).
    pub finished: Option<u64>,
    /// How each step was passed; a step not in the map was not passed yet.
    pub steps: BTreeMap<usize, StepState>,
    /// Sysctls the lesson writes, with their values when the student started it, so that
    /// `nslab reset` can set them back. Keyed by "NS KEY".
    pub sysctls: BTreeMap<String, String>,
    /// Steps whose hidden setup learn performed on the machine's own lab (not in a sandbox),
    /// and that were not passed since: a resume there does not perform it again, which would
    /// undo what the student mended while learn was closed. Starting over (`r`, `nslab reset`)
    /// forgets them.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub set_up: BTreeSet<usize>,
    /// When learn first opened the lesson in this boot (or since it was started over): the
    /// processes the student started since then are theirs, also in a later session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub began: Option<Began>,
}

/// A moment as the kernel counts process start times: clock ticks since boot, in one boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Began {
    pub boot_id: String,
    pub ticks: u64,
}

impl Default for LessonProgress {
    fn default() -> Self {
        LessonProgress {
            step: 1,
            since: None,
            finished: None,
            steps: BTreeMap::new(),
            sysctls: BTreeMap::new(),
            set_up: BTreeSet::new(),
            began: None,
        }
    }
}

impl LessonProgress {
    /// The student has passed the last step at least once.
    pub fn done(&self) -> bool {
        self.finished.is_some()
    }

    pub fn state(&self, step: usize) -> Option<StepState> {
        self.steps.get(&step).copied()
    }

    /// How many steps were passed in this way.
    pub fn count(&self, state: StepState) -> usize {
        self.steps.values().filter(|s| **s == state).count()
    }

    /// Records how a step was passed. A step only moves up (skipped < performed < verified):
    /// going back to a verified step and skipping it leaves it verified. Returns the state the
    /// step has now.
    pub fn mark(&mut self, step: usize, state: StepState) -> StepState {
        self.set_up.remove(&step);
        let s = self.steps.entry(step).or_insert(state);
        *s = (*s).max(state);
        *s
    }

    /// The student is now at `step`; the clock of "how long at this step" starts when the step
    /// changes.
    pub fn reach(&mut self, step: usize, now: u64) {
        if self.step != step || self.since.is_none() {
            self.step = step;
            self.since = Some(now);
        }
    }

    /// The student passed the last step; the first time is the one kept.
    pub fn finish(&mut self, now: u64) {
        self.finished.get_or_insert(now);
    }

    /// Forgets how the steps were passed (learn's `r` key: the student starts the lesson over).
    pub fn forget_steps(&mut self) {
        self.steps.clear();
        self.set_up.clear();
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// The lesson the student worked on last: `nslab learn` resumes it.
    pub current: Option<String>,
    pub lessons: BTreeMap<String, LessonProgress>,
}

impl Progress {
    pub fn lesson(&mut self, id: &str) -> &mut LessonProgress {
        self.lessons.entry(id.to_string()).or_default()
    }

    pub fn get(&self, id: &str) -> Option<&LessonProgress> {
        self.lessons.get(id)
    }

    /// What `nslab reset` does to the lessons it reset: forgets them (an explicit reset, the only
    /// way a step goes down), but a finished one only when `finished_too` (the user said yes).
    /// Returns the finished lessons it kept.
    pub fn forget_reset(&mut self, ids: &[&str], finished_too: bool) -> Vec<String> {
        let mut kept = Vec::new();
        for id in ids {
            match self.lessons.get_mut(*id) {
                Some(l) if l.done() && !finished_too => {
                    // Its lab was reset all the same: no step of it is set up any more, and no
                    // process of it runs.
                    l.set_up.clear();
                    l.began = None;
                    kept.push(id.to_string());
                }
                Some(_) => {
                    self.lessons.remove(*id);
                }
                None => {}
            }
        }
        kept
    }
}

/// The file as written: the version first, then the progress.
#[derive(Serialize)]
struct Versioned<'a> {
    version: u64,
    #[serde(flatten)]
    progress: &'a Progress,
}

/// A field of the file that could not be used, and what was lost with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where in the file: `lessons.routing.steps.3`, or `(file)` for the whole file.
    pub field: String,
    pub problem: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// What reading the file gave.
#[derive(Debug, Default)]
pub struct Loaded {
    pub progress: Progress,
    /// Fields that could not be used; empty for a sound file.
    pub warnings: Vec<Warning>,
    /// The version the file was written in; `None` when there is no file, or no JSON in it.
    pub version: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    #[error(
        "{}: the progress file is {kind}, not a regular file; nslab neither reads nor replaces it. Remove it, or set XDG_STATE_HOME to another folder",
        path.display()
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{}: written by a newer nslab (format version {version}; this one knows versions 1 and {VERSION}); nslab leaves it as it is",
        path.display()
    )]
    TooNew { path: PathBuf, version: u64 },
    #[error(
        "{}: another nslab has held its lock for {} s; is one stuck? Try again",
        path.display(),
        LOCK_WAIT.as_secs()
    )]
    Locked { path: PathBuf },
    #[error("{}: cannot {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        source: io::Error,
    },
}

fn io_error(path: &Path, what: &'static str) -> impl FnOnce(io::Error) -> ProgressError {
    let path = path.to_path_buf();
    move |source| ProgressError::Io { path, what, source }
}

impl From<state::FileError> for ProgressError {
    fn from(e: state::FileError) -> ProgressError {
        match e {
            state::FileError::NotRegular { path, kind } => ProgressError::NotRegular { path, kind },
            state::FileError::Locked { path } => ProgressError::Locked { path },
            state::FileError::Io { path, what, source } => ProgressError::Io { path, what, source },
        }
    }
}

/// `$XDG_STATE_HOME/nslab/progress.json`, or `~/.local/state/nslab/progress.json`.
pub fn default_path() -> Option<PathBuf> {
    Some(state::dir()?.join("progress.json"))
}

/// Unix time in seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The progress file: where it is, and the only way to read and change it.
#[derive(Debug, Clone)]
pub struct Store {
    /// `None` without HOME and XDG_STATE_HOME: progress is then not kept.
    path: Option<PathBuf>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            path: default_path(),
        }
    }
}

impl Store {
    /// The file at `path` (tests, and tools that read another user's file).
    pub fn at(path: impl Into<PathBuf>) -> Store {
        Store {
            path: Some(path.into()),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Reads the file without writing anything: a missing file is an empty progress, a field
    /// that cannot be used is left out and named in `warnings`.
    pub fn read(&self) -> Result<Loaded, ProgressError> {
        let Some(path) = &self.path else {
            return Ok(Loaded::default());
        };
        let Some((bytes, mtime)) = state::read_regular(path, MAX_SIZE)? else {
            return Ok(Loaded::default());
        };
        parse(&bytes, mtime).map_err(|version| ProgressError::TooNew {
            path: path.clone(),
            version,
        })
    }

    /// Applies one change to the file as it is now, under its lock, and writes the result.
    /// Callers record what happened (`p.lesson(id).mark(step, state)`), never a whole copy.
    ///
    /// A file with fields that cannot be used is kept as `progress.json.bad-TIME` before it is
    /// replaced, and the warnings go to standard error.
    pub fn update<T>(&self, change: impl FnOnce(&mut Progress) -> T) -> Result<T, ProgressError> {
        let Some(path) = &self.path else {
            return Ok(change(&mut Progress::default()));
        };
        state::make_dir(path)?;
        let _lock = state::lock(path)?;
        let mut loaded = self.read()?;
        if !loaded.warnings.is_empty() {
            let backup = state::backup(path, now(), "keep a backup of the progress file")?;
            print_warnings(path, &loaded.warnings);
            eprintln!(
                "nslab: warning: {}: the file as it was is kept in {}",
                path.display(),
                backup.display()
            );
        }
        let out = change(&mut loaded.progress);
        write(path, &loaded.progress)?;
        Ok(out)
    }
}

/// One line per warning on standard error, each naming the file and the field.
pub fn print_warnings(path: &Path, warnings: &[Warning]) {
    for w in warnings {
        eprintln!("nslab: warning: {}: {w}", path.display());
    }
}

/// Writes the file atomically (see [`state::write_atomic`]).
fn write(path: &Path, progress: &Progress) -> Result<(), ProgressError> {
    let mut text = serde_json::to_string_pretty(&Versioned {
        version: VERSION,
        progress,
    })
    .map_err(|e| io_error(path, "write it")(io::Error::other(e)))?;
    text.push('\n');
    Ok(state::write_atomic(path, text.as_bytes())?)
}

/// Reads the file's text, field by field. `Err(version)` for a version this nslab does not know.
/// `mtime` stands in for the times a version 1 file did not record.
fn parse(bytes: &[u8], mtime: u64) -> Result<Loaded, u64> {
    let mut w = Vec::new();
    let whole = |problem: String| Loaded {
        progress: Progress::default(),
        warnings: vec![Warning {
            field: "(file)".into(),
            problem: format!("{problem}; nothing in it can be used"),
        }],
        version: None,
    };
    if bytes.len() as u64 > MAX_SIZE {
        return Ok(whole(format!(
            "larger than {} MiB, so not a progress file",
            MAX_SIZE >> 20
        )));
    }
    let value: Value = match std::str::from_utf8(bytes) {
        Err(e) => return Ok(whole(format!("not UTF-8 text ({e})"))),
        Ok(t) => match serde_json::from_str(t) {
            Ok(v) => v,
            Err(e) => return Ok(whole(format!("not JSON ({e})"))),
        },
    };
    let Value::Object(top) = value else {
        return Ok(whole(format!("{} instead of a JSON object", kind(&value))));
    };
    let version = match top.get("version") {
        None => 1,
        Some(v) => match v.as_u64() {
            Some(n @ 1..) if n > VERSION => return Err(n),
            Some(n @ 1..) => n,
            _ => {
                let guess = if looks_v1(&top) { 1 } else { VERSION };
                w.push(Warning {
                    field: "version".into(),
                    problem: format!(
                        "{} is not a format version (1 or {VERSION}); read as version {guess}",
                        show(v)
                    ),
                });
                guess
            }
        },
    };
    let current = match top.get("current") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => {
            w.push(Warning {
                field: "current".into(),
                problem: format!(
                    "expected a lesson id, found {}; `nslab learn` will not know the last lesson",
                    show(v)
                ),
            });
            None
        }
    };
    let mut lessons = BTreeMap::new();
    match top.get("lessons") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (id, v) in map {
                let field = format!("lessons.{id}");
                let Value::Object(fields) = v else {
                    w.push(Warning {
                        problem: format!(
                            "expected an object, found {}; this lesson's progress is left out",
                            show(v)
                        ),
                        field,
                    });
                    continue;
                };
                let l = if version == 1 {
                    lesson_v1(&field, fields, mtime, &mut w)
                } else {
                    lesson_v2(&field, fields, &mut w)
                };
                lessons.insert(id.clone(), l);
            }
        }
        Some(v) => w.push(Warning {
            field: "lessons".into(),
            problem: format!(
                "expected an object of lessons, found {}; every lesson's progress is left out",
                show(v)
            ),
        }),
    }
    Ok(Loaded {
        progress: Progress { current, lessons },
        warnings: w,
        version: Some(version),
    })
}

/// A file without a version, or with a broken one, that has version 1's fields.
fn looks_v1(top: &Map<String, Value>) -> bool {
    top.get("lessons")
        .and_then(Value::as_object)
        .is_some_and(|m| {
            m.values().any(|l| {
                l.get("verified").is_some() || l.get("skipped").is_some() || l.get("done").is_some()
            })
        })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value as the warning quotes it: short ones in full, longer ones by their kind.
fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= 40 {
        s
    } else {
        kind(v).to_string()
    }
}

/// A step number: an integer from 1.
fn step_number(v: &Value) -> Option<usize> {
    v.as_u64()
        .filter(|n| *n >= 1)
        .and_then(|n| usize::try_from(n).ok())
}

/// The field `step` (both versions): the step to resume at; 1 when it cannot be read.
fn read_step(field: &str, fields: &Map<String, Value>, w: &mut Vec<Warning>) -> usize {
    match fields.get("step") {
        Some(v) => step_number(v).unwrap_or_else(|| {
            w.push(Warning {
                field: format!("{field}.step"),
                problem: format!(
                    "expected a step number (1 or more), found {}; the lesson resumes at step 1",
                    show(v)
                ),
            });
            1
        }),
        None => {
            w.push(Warning {
                field: format!("{field}.step"),
                problem: "missing; the lesson resumes at step 1".into(),
            });
            1
        }
    }
}

/// A unix time, or null.
fn read_time(field: String, v: Option<&Value>, w: &mut Vec<Warning>) -> Option<u64> {
    match v {
        None | Some(Value::Null) => None,
        Some(v) => v.as_u64().or_else(|| {
            w.push(Warning {
                problem: format!(
                    "expected a time in unix seconds, found {}; it is left out",
                    show(v)
                ),
                field,
            });
            None
        }),
    }
}

/// The field `sysctls` (both versions): "NS KEY" to the value before the lesson.
fn read_sysctls(
    field: &str,
    fields: &Map<String, Value>,
    w: &mut Vec<Warning>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match fields.get("sysctls") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match v {
                    Value::String(s) => {
                        out.insert(k.clone(), s.clone());
                    }
                    _ => w.push(Warning {
                        field: format!("{field}.sysctls.{k}"),
                        problem: format!(
                            "expected the value as a string, found {}; `nslab reset` will not set it back",
                            show(v)
                        ),
                    }),
                }
            }
        }
        Some(v) => w.push(Warning {
            field: format!("{field}.sysctls"),
            problem: format!(
                "expected an object, found {}; `nslab reset` will not set these sysctls back",
                show(v)
            ),
        }),
    }
    out
}

/// The field `set_up`: step numbers whose hidden setup learn performed; a value that is no
/// step number is left out (learn then performs that step's setup again).
fn read_set_up(field: &str, fields: &Map<String, Value>, w: &mut Vec<Warning>) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    match fields.get("set_up") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for (i, v) in a.iter().enumerate() {
                match step_number(v) {
                    Some(n) => {
                        out.insert(n);
                    }
                    None => w.push(Warning {
                        field: format!("{field}.set_up.{i}"),
                        problem: format!(
                            "expected a step number (1 or more), found {}; this entry is left out",
                            show(v)
                        ),
                    }),
                }
            }
        }
        Some(v) => w.push(Warning {
            field: format!("{field}.set_up"),
            problem: format!(
                "expected an array of step numbers, found {}; learn performs the steps' setups again",
                show(v)
            ),
        }),
    }
    out
}

/// The field `began`: a boot's identity and clock ticks since that boot.
fn read_began(field: &str, fields: &Map<String, Value>, w: &mut Vec<Warning>) -> Option<Began> {
    let v = fields.get("began")?;
    if v.is_null() {
        return None;
    }
    let began = v.as_object().and_then(|o| {
        Some(Began {
            boot_id: o.get("boot_id")?.as_str()?.to_string(),
            ticks: o.get("ticks")?.as_u64()?,
        })
    });
    if began.is_none() {
        w.push(Warning {
            field: format!("{field}.began"),
            problem: format!(
                "expected an object of boot_id and ticks, found {}; only processes started in this session count as the lesson's",
                show(v)
            ),
        });
    }
    began
}

fn lesson_v2(field: &str, fields: &Map<String, Value>, w: &mut Vec<Warning>) -> LessonProgress {
    let mut steps = BTreeMap::new();
    match fields.get("steps") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let n = k.parse::<usize>().ok().filter(|n| *n >= 1);
                let st = v.as_str().and_then(StepState::parse);
                match (n, st) {
                    (Some(n), Some(st)) => {
                        steps.insert(n, st);
                    }
                    (None, _) => w.push(Warning {
                        field: format!("{field}.steps.{k}"),
                        problem: "not a step number (1 or more); this entry is left out".into(),
                    }),
                    (_, None) => w.push(Warning {
                        field: format!("{field}.steps.{k}"),
                        problem: format!(
                            "{} is not a step state (verified, performed or skipped); this entry is left out",
                            show(v)
                        ),
                    }),
                }
            }
        }
        Some(v) => w.push(Warning {
            field: format!("{field}.steps"),
            problem: format!(
                "expected an object of step states, found {}; how the steps were passed is left out",
                show(v)
            ),
        }),
    }
    LessonProgress {
        step: read_step(field, fields, w),
        since: read_time(format!("{field}.since"), fields.get("since"), w),
        finished: read_time(format!("{field}.finished"), fields.get("finished"), w),
        steps,
        sysctls: read_sysctls(field, fields, w),
        set_up: read_set_up(field, fields, w),
        began: read_began(field, fields, w),
    }
}

/// Version 1 kept lists of verified and skipped steps, a `done` flag and no times: the file's
/// modification time stands in for them (the last save, so never earlier than the truth).
fn lesson_v1(
    field: &str,
    fields: &Map<String, Value>,
    mtime: u64,
    w: &mut Vec<Warning>,
) -> LessonProgress {
    let mut l = LessonProgress {
        step: read_step(field, fields, w),
        since: Some(mtime),
        sysctls: read_sysctls(field, fields, w),
        ..LessonProgress::default()
    };
    // Skipped first: a step in both lists was verified.
    for (name, state) in [
        ("skipped", StepState::Skipped),
        ("verified", StepState::Verified),
    ] {
        match fields.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                for (i, v) in a.iter().enumerate() {
                    match step_number(v) {
                        Some(n) => {
                            l.mark(n, state);
                        }
                        None => w.push(Warning {
                            field: format!("{field}.{name}[{i}]"),
                            problem: format!(
                                "expected a step number (1 or more), found {}; it is left out",
                                show(v)
                            ),
                        }),
                    }
                }
            }
            Some(v) => w.push(Warning {
                field: format!("{field}.{name}"),
                problem: format!(
                    "expected a list of step numbers, found {}; it is left out",
                    show(v)
                ),
            }),
        }
    }
    match fields.get("done") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => l.finished = Some(mtime),
        Some(v) => w.push(Warning {
            field: format!("{field}.done"),
            problem: format!(
                "expected true or false, found {}; the lesson counts as not finished",
                show(v)
            ),
        }),
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{Code, Failure};
    use std::os::unix::fs::FileTypeExt;
    use std::sync::mpsc;

    /// A folder of its own under the system's temporary folder, removed at the end.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let d =
                std::env::temp_dir().join(format!("nslab-progress-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            TempDir(d)
        }

        fn file(&self) -> PathBuf {
            self.0.join("progress.json")
        }

        /// The names in the folder, sorted.
        fn names(&self) -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const V1: &str = r#"{
  "current": "veth-lab",
  "lessons": {
    "veth-lab": {
      "step": 4,
      "verified": [1, 3],
      "skipped": [2, 3],
      "done": false,
      "sysctls": {}
    },
    "routing": {
      "step": 7,
      "verified": [1, 2, 3, 4, 5, 6],
      "skipped": [],
      "done": true,
      "sysctls": { "root net.ipv4.ip_forward": "0" }
    }
  }
}"#;

    #[test]
    fn a_step_only_moves_up() {
        let mut l = LessonProgress::default();
        assert_eq!(l.mark(1, StepState::Skipped), StepState::Skipped);
        assert_eq!(l.mark(1, StepState::Performed), StepState::Performed);
        assert_eq!(l.mark(1, StepState::Verified), StepState::Verified);
        // Back, then skip or `d`: still verified.
        assert_eq!(l.mark(1, StepState::Skipped), StepState::Verified);
        assert_eq!(l.mark(1, StepState::Performed), StepState::Verified);
        assert_eq!(l.mark(2, StepState::Performed), StepState::Performed);
        assert_eq!(l.mark(2, StepState::Skipped), StepState::Performed);
        assert_eq!(l.count(StepState::Verified), 1);
        assert_eq!(l.count(StepState::Performed), 1);
        // Only an explicit reset goes down.
        l.forget_steps();
        assert_eq!(l.state(1), None);
        assert_eq!(l.mark(1, StepState::Skipped), StepState::Skipped);
    }

    #[test]
    fn the_clock_starts_when_the_step_changes_and_the_first_finish_is_kept() {
        let mut l = LessonProgress::default();
        l.reach(1, 100);
        assert_eq!(l.since, Some(100));
        l.reach(1, 200);
        assert_eq!(l.since, Some(100), "same step: still since the first time");
        l.reach(2, 300);
        assert_eq!((l.step, l.since), (2, Some(300)));
        l.finish(400);
        l.finish(500);
        assert_eq!(l.finished, Some(400));
        assert!(l.done());
    }

    #[test]
    fn reset_keeps_a_finished_lesson_unless_told() {
        let mut p = Progress::default();
        p.lesson("a").mark(1, StepState::Verified);
        p.lesson("b").finish(10);
        assert_eq!(p.forget_reset(&["a", "b", "c"], false), vec!["b"]);
        assert!(p.get("a").is_none());
        assert!(p.get("b").is_some_and(LessonProgress::done));
        assert!(p.forget_reset(&["b"], true).is_empty());
        assert!(p.get("b").is_none());
    }

    /// Steps whose hidden setup learn performed: kept through a write and a read, forgotten by
    /// the step's pass, by `r`, and by `nslab reset` (also of a finished lesson it keeps); a
    /// value that is no step number loses only itself.
    #[test]
    fn set_up_steps_are_kept_until_passed_or_reset() {
        let d = TempDir::new("set-up");
        let store = Store::at(d.file());
        store
            .update(|p| {
                p.lesson("t").set_up.extend([2, 3]);
                p.lesson("t").mark(2, StepState::Verified);
            })
            .unwrap();
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(d.file()).unwrap()).unwrap();
        assert_eq!(json["lessons"]["t"]["set_up"], serde_json::json!([3]));
        let mut p = store.read().unwrap().progress;
        assert_eq!(p.lesson("t").set_up, BTreeSet::from([3]));
        p.lesson("t").forget_steps();
        assert!(p.lesson("t").set_up.is_empty());
        p.lesson("t").set_up.insert(4);
        p.lesson("t").finish(10);
        assert_eq!(p.forget_reset(&["t"], false), vec!["t"]);
        assert!(p.lesson("t").set_up.is_empty());

        std::fs::write(
            d.file(),
            r#"{"version": 2, "current": null, "lessons": {"t": {"step": 2, "set_up": [2, "x", 0]}}}"#,
        )
        .unwrap();
        let loaded = store.read().unwrap();
        assert_eq!(
            loaded.progress.get("t").unwrap().set_up,
            BTreeSet::from([2])
        );
        let fields: Vec<&str> = loaded.warnings.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(fields, ["lessons.t.set_up.1", "lessons.t.set_up.2"]);
    }

    #[test]
    fn version_1_is_read_and_upgraded() {
        let d = TempDir::new("v1");
        std::fs::write(d.file(), V1).unwrap();
        let mtime = std::fs::metadata(d.file())
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let store = Store::at(d.file());
        let loaded = store.read().unwrap();
        assert_eq!(loaded.version, Some(1));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let p = &loaded.progress;
        assert_eq!(p.current.as_deref(), Some("veth-lab"));
        let v = p.get("veth-lab").unwrap();
        assert_eq!(v.step, 4);
        // Step 3 was in both lists: verified wins.
        assert_eq!(v.state(1), Some(StepState::Verified));
        assert_eq!(v.state(2), Some(StepState::Skipped));
        assert_eq!(v.state(3), Some(StepState::Verified));
        assert_eq!((v.since, v.finished), (Some(mtime), None));
        let r = p.get("routing").unwrap();
        assert_eq!(r.finished, Some(mtime));
        assert_eq!(r.count(StepState::Verified), 6);
        assert_eq!(r.sysctls["root net.ipv4.ip_forward"], "0");

        // The first change writes version 2, with everything kept, and no backup (nothing lost).
        store.update(|_| ()).unwrap();
        let text = std::fs::read_to_string(d.file()).unwrap();
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["version"], 2);
        assert_eq!(json["lessons"]["veth-lab"]["steps"]["2"], "skipped");
        let again = store.read().unwrap();
        assert_eq!(again.version, Some(2));
        assert_eq!(&again.progress, p);
        assert_eq!(d.names(), ["progress.json", "progress.json.lock"]);
    }

    #[test]
    fn a_bad_field_loses_only_itself_and_the_file_is_backed_up_before_a_write() {
        let d = TempDir::new("bad");
        let text = r#"{
  "version": 2,
  "current": 42,
  "lessons": {
    "veth-lab": { "step": 3, "since": 100, "finished": null,
                  "steps": { "1": "verified", "2": "done", "0": "skipped" },
                  "sysctls": { "root net.ipv4.ip_forward": "0" } },
    "routing": { "step": "six", "since": "yesterday", "steps": { "1": "performed" } },
    "bridges": [1, 2]
  }
}"#;
        std::fs::write(d.file(), text).unwrap();
        let store = Store::at(d.file());
        let loaded = store.read().unwrap();
        let fields: Vec<&str> = loaded.warnings.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "current",
                "lessons.bridges",
                "lessons.routing.step",
                "lessons.routing.since",
                "lessons.veth-lab.steps.0",
                "lessons.veth-lab.steps.2",
            ]
        );
        let p = &loaded.progress;
        assert_eq!(p.current, None);
        assert!(p.get("bridges").is_none());
        let v = p.get("veth-lab").unwrap();
        assert_eq!((v.step, v.since), (3, Some(100)));
        assert_eq!(v.steps, BTreeMap::from([(1, StepState::Verified)]));
        assert_eq!(v.sysctls["root net.ipv4.ip_forward"], "0");
        let r = p.get("routing").unwrap();
        assert_eq!((r.step, r.since), (1, None));
        assert_eq!(r.state(1), Some(StepState::Performed));
        // Reading wrote nothing.
        assert_eq!(d.names(), ["progress.json"]);

        store
            .update(|p| p.lesson("routing").mark(2, StepState::Verified))
            .unwrap();
        let names = d.names();
        let backup = names
            .iter()
            .find(|n| n.starts_with("progress.json.bad-"))
            .expect("a backup");
        assert_eq!(std::fs::read_to_string(d.0.join(backup)).unwrap(), text);
        let after = store.read().unwrap();
        assert!(after.warnings.is_empty(), "{:?}", after.warnings);
        assert_eq!(after.progress.get("veth-lab"), Some(v));
        assert_eq!(
            after.progress.get("routing").unwrap().state(2),
            Some(StepState::Verified)
        );
    }

    #[test]
    fn a_file_that_is_not_json_is_backed_up_whole() {
        let d = TempDir::new("notjson");
        std::fs::write(d.file(), "{\"version\": 2, \"lessons\": {").unwrap();
        let store = Store::at(d.file());
        let loaded = store.read().unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert_eq!(loaded.warnings[0].field, "(file)");
        assert!(loaded.warnings[0].problem.contains("not JSON"));
        store.update(|p| p.lesson("a").reach(2, 5)).unwrap();
        let names = d.names();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names[1].starts_with("progress.json.bad-"), "{names:?}");
        assert_eq!(store.read().unwrap().progress.get("a").unwrap().step, 2);
    }

    #[test]
    fn a_newer_version_is_refused_and_left_alone() {
        let d = TempDir::new("newer");
        let text = r#"{"version": 3, "lessons": {}}"#;
        std::fs::write(d.file(), text).unwrap();
        let store = Store::at(d.file());
        assert!(matches!(
            store.read(),
            Err(ProgressError::TooNew { version: 3, .. })
        ));
        let e = store.update(|p| p.lesson("a").finish(1)).unwrap_err();
        assert_eq!(Failure::from(e).code(), Code::Usage);
        assert_eq!(std::fs::read_to_string(d.file()).unwrap(), text);
    }

    #[test]
    fn two_writers_in_turn_each_keep_their_lesson() {
        let d = TempDir::new("two");
        let (a, b) = (Store::at(d.file()), Store::at(d.file()));
        a.update(|p| p.lesson("veth-lab").mark(1, StepState::Verified))
            .unwrap();
        b.update(|p| p.lesson("routing").mark(1, StepState::Performed))
            .unwrap();
        a.update(|p| p.lesson("veth-lab").mark(2, StepState::Skipped))
            .unwrap();
        b.update(|p| p.lesson("routing").reach(2, 50)).unwrap();
        let p = a.read().unwrap().progress;
        assert_eq!(p.get("veth-lab").unwrap().steps.len(), 2);
        assert_eq!(
            p.get("routing").unwrap().state(1),
            Some(StepState::Performed)
        );
        assert_eq!(p.get("routing").unwrap().step, 2);
    }

    #[test]
    fn a_reset_in_between_is_not_undone_by_the_next_change() {
        let d = TempDir::new("reset");
        let (learn, reset) = (Store::at(d.file()), Store::at(d.file()));
        learn
            .update(|p| {
                let l = p.lesson("routing");
                l.mark(1, StepState::Verified);
                l.mark(2, StepState::Verified);
                l.sysctls
                    .insert("root net.ipv4.ip_forward".into(), "0".into());
            })
            .unwrap();
        reset
            .update(|p| p.forget_reset(&["routing"], false))
            .unwrap();
        learn
            .update(|p| p.lesson("routing").mark(3, StepState::Verified))
            .unwrap();
        let l = reset.read().unwrap().progress.lessons["routing"].clone();
        assert_eq!(l.steps, BTreeMap::from([(3, StepState::Verified)]));
        assert!(l.sysctls.is_empty());
    }

    #[test]
    fn writers_at_the_same_time_lose_nothing() {
        let d = TempDir::new("race");
        let path = d.file();
        let threads: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|id| {
                let store = Store::at(&path);
                std::thread::spawn(move || {
                    for step in 1..=25 {
                        store
                            .update(|p| p.lesson(id).mark(step, StepState::Verified))
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let p = Store::at(&path).read().unwrap().progress;
        for id in ["a", "b", "c"] {
            assert_eq!(p.get(id).unwrap().count(StepState::Verified), 25, "{id}");
        }
        // No temporary file is left behind.
        assert_eq!(d.names(), ["progress.json", "progress.json.lock"]);
    }

    /// Runs `f` on another thread and fails if it takes more than a few seconds.
    fn within_seconds<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(f()));
        rx.recv_timeout(Duration::from_secs(5))
            .expect("it hung on the special file")
    }

    #[test]
    fn a_fifo_is_refused_without_hanging() {
        let d = TempDir::new("fifo");
        nix::unistd::mkfifo(&d.file(), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let store = Store::at(d.file());
        let s = store.clone();
        let read = within_seconds(move || s.read().map(|_| ()));
        let e = read.unwrap_err();
        assert!(
            matches!(e, ProgressError::NotRegular { kind: "a FIFO", .. }),
            "{e}"
        );
        assert!(e.to_string().contains("is a FIFO"), "{e}");
        assert_eq!(Failure::from(e).code(), Code::Usage);
        let s = store.clone();
        let update = within_seconds(move || s.update(|p| p.lesson("a").finish(1)));
        assert!(matches!(update, Err(ProgressError::NotRegular { .. })));
        // Still the FIFO: nothing replaced it.
        let meta = std::fs::symlink_metadata(d.file()).unwrap();
        assert!(meta.file_type().is_fifo());
    }

    #[test]
    fn a_directory_is_refused() {
        let d = TempDir::new("dir");
        std::fs::create_dir(d.file()).unwrap();
        let e = Store::at(d.file()).read().unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
    }

    #[test]
    fn no_file_is_an_empty_progress_and_reading_creates_nothing() {
        let d = TempDir::new("none");
        let loaded = Store::at(d.0.join("sub/progress.json")).read().unwrap();
        assert_eq!(loaded.progress, Progress::default());
        assert_eq!(loaded.version, None);
        assert!(d.names().is_empty());
    }
}
