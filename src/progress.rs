//! The student's progress, per lesson, in the XDG state folder. This module is the only writer
//! of that file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LessonProgress {
    /// The step to resume at (1-based).
    pub step: usize,
    /// Steps verified, and steps skipped.
    #[serde(default)]
    pub verified: Vec<usize>,
    #[serde(default)]
    pub skipped: Vec<usize>,
    #[serde(default)]
    pub done: bool,
    /// Sysctls the lesson writes, with their values when the student started it, so that
    /// `nslab reset` can set them back. Keyed by "NS KEY".
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Progress {
    /// The lesson the student worked on last: `nslab learn` resumes it.
    #[serde(default)]
    pub current: Option<String>,
    #[serde(default)]
    pub lessons: BTreeMap<String, LessonProgress>,
    #[serde(skip)]
    path: Option<PathBuf>,
}

/// `$XDG_STATE_HOME/nslab/progress.json`, or `~/.local/state/nslab/progress.json`.
pub fn default_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".local/state"),
    };
    Some(base.join("nslab/progress.json"))
}

impl Progress {
    /// Reads the progress file; a missing or unreadable one is an empty progress (a student must
    /// never be stopped by a damaged state file).
    pub fn load() -> Progress {
        let path = default_path();
        let mut p: Progress = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        p.path = path;
        p
    }

    pub fn lesson(&mut self, id: &str) -> &mut LessonProgress {
        self.lessons
            .entry(id.to_string())
            .or_insert_with(|| LessonProgress {
                step: 1,
                ..Default::default()
            })
    }

    pub fn get(&self, id: &str) -> Option<&LessonProgress> {
        self.lessons.get(id)
    }

    /// Writes the file atomically (a new file renamed over the old one).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(self).unwrap_or_default())?;
        std::fs::rename(tmp, path)
    }
}

impl LessonProgress {
    pub fn mark(&mut self, step: usize, verified: bool) {
        self.verified.retain(|s| *s != step);
        self.skipped.retain(|s| *s != step);
        if verified {
            self.verified.push(step);
        } else {
            self.skipped.push(step);
        }
        self.verified.sort_unstable();
        self.skipped.sort_unstable();
    }

    /// How `nslab list` shows it.
    pub fn summary(&self, steps: usize) -> String {
        if self.done {
            format!("done ({} of {steps} verified)", self.verified.len())
        } else {
            format!(
                "at step {} of {steps} ({} verified)",
                self.step.min(steps.max(1)),
                self.verified.len()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_summaries() {
        let mut p = LessonProgress {
            step: 1,
            ..Default::default()
        };
        p.mark(1, true);
        p.mark(2, false);
        p.mark(2, true);
        assert_eq!(p.verified, vec![1, 2]);
        assert!(p.skipped.is_empty());
        p.step = 3;
        assert_eq!(p.summary(8), "at step 3 of 8 (2 verified)");
        p.done = true;
        assert_eq!(p.summary(8), "done (2 of 8 verified)");
    }
}
