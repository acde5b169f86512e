//! One set of exit codes for every subcommand.

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

/// Why a command could not succeed; each kind exits with its code ([`Failure::code`]).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A lesson or usage error: nothing was performed.
    #[error("{0}")]
    Usage(String),
    /// The environment cannot run it.
    #[error("{0}")]
    Environment(String),
    /// A step or a check failed; the report already said which (the message may be empty).
    #[error("{0}")]
    Failed(String),
    /// The progress file cannot be used.
    #[error(transparent)]
    Progress(#[from] crate::progress::ProgressError),
    /// The kernel refused, or could not be reached.
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
}

impl Failure {
    /// A failure of the kind that exits with `code` (a success or an interruption is no
    /// failure: they become a failed run).
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        let m = message.into();
        match code {
            Code::Usage => Failure::Usage(m),
            Code::Environment => Failure::Environment(m),
            Code::Success | Code::Failed | Code::Interrupted => Failure::Failed(m),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::Usage(message.into())
    }

    pub fn env(message: impl Into<String>) -> Self {
        Failure::Environment(message.into())
    }

    /// The exit code.
    pub fn code(&self) -> Code {
        use crate::progress::ProgressError as P;
        match self {
            Failure::Usage(_) => Code::Usage,
            Failure::Environment(_) | Failure::Kernel(_) => Code::Environment,
            Failure::Failed(_) => Code::Failed,
            Failure::Progress(P::NotRegular { .. } | P::TooNew { .. }) => Code::Usage,
            Failure::Progress(P::Locked { .. } | P::Io { .. }) => Code::Environment,
        }
    }
}
