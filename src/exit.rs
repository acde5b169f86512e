//! One set of exit codes for every subcommand.

use std::fmt;

/// How nslab ends. Documented in `--help` and README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Everything asked for succeeded.
    Success = 0,
    /// A step or a check failed.
    Failed = 1,
    /// A lesson or usage error: nothing was performed.
    Usage = 2,
    /// The environment cannot run it (no privilege for namespaces, a kernel feature missing).
    Environment = 3,
    /// Interrupted (Ctrl-C).
    Interrupted = 130,
}

/// The exit code table as `--help` shows it.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    a step or check failed
  2    a lesson or usage error (nothing was performed)
  3    the environment cannot run it (no privilege to create namespaces, a kernel feature missing)
  130  interrupted";

/// Why a command could not succeed, with the code it exits with.
#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    pub message: String,
}

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(Code::Usage, message)
    }

    pub fn env(message: impl Into<String>) -> Self {
        Failure::new(Code::Environment, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
