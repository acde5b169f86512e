//! The student's shell (the `t` key): their login shell, or /bin/sh when that is no shell
//! (nologin), given the terminal as a job is (see `term::run_in_foreground`), with nslab's own
//! variables left out and "(nslab lesson)" in its prompt, so that it is not taken for any
//! other shell.

use std::path::{Path, PathBuf};

/// What the prompt of the lesson's shell starts with.
pub const MARK: &str = "(nslab lesson) ";

/// Set in the lesson's shell to the lesson's id: an `nslab learn` typed there says where it is
/// instead of starting a second lesson inside the first.
pub const IN_LESSON_ENV: &str = "IN_NSLAB_LESSON";

/// Whether `path` is a shell one can work in: listed in /etc/shells where that file exists,
/// executable, and not one of the programs that refuse a login (nologin, false).
fn usable(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !path.is_absolute() || ["nologin", "false", "true"].contains(&name) {
        return false;
    }
    let executable = std::fs::metadata(path).is_ok_and(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.is_file() && m.permissions().mode() & 0o111 != 0
    });
    match std::fs::read_to_string("/etc/shells") {
        Ok(list) => executable && list.lines().any(|l| Path::new(l.trim()) == path),
        Err(_) => executable,
    }
}

/// The shell to open: $SHELL, else the login shell of the user, else /bin/sh.
pub fn program() -> PathBuf {
    let from_env = std::env::var_os("SHELL").map(PathBuf::from);
    let from_passwd = || {
        nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.shell)
    };
    from_env
        .filter(|p| usable(p))
        .or_else(|| from_passwd().filter(|p| usable(p)))
        .unwrap_or_else(|| PathBuf::from("/bin/sh"))
}

/// The command that opens the shell for lesson `id`.
pub fn command(id: &str) -> std::process::Command {
    let sh = program();
    let mut cmd = std::process::Command::new(&sh);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("NSLAB_") {
            cmd.env_remove(&k);
        }
    }
    crate::kernel::sandbox::scrub(&mut cmd);
    cmd.env(IN_LESSON_ENV, id);
    // sh and dash take PS1 from the environment. bash's rc files set their own: bash puts the
    // mark back in front of whatever prompt they set, before each prompt.
    let ps1 = std::env::var("PS1").unwrap_or_else(|_| "$ ".into());
    cmd.env("PS1", format!("{MARK}{}", ps1.trim_start_matches(MARK)));
    if sh.file_name().is_some_and(|n| n == "bash") {
        cmd.env(
            "PROMPT_COMMAND",
            format!("case \"$PS1\" in \"{MARK}\"*) ;; *) PS1=\"{MARK}$PS1\";; esac"),
        );
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nologin_is_no_shell() {
        assert!(!usable(Path::new("/usr/sbin/nologin")));
        assert!(!usable(Path::new("/bin/false")));
        assert!(!usable(Path::new("sh")));
        assert!(usable(Path::new("/bin/sh")));
    }

    #[test]
    fn the_shell_gets_no_nslab_variable() {
        let cmd = command("veth-lab");
        let envs: Vec<_> = cmd.get_envs().collect();
        assert!(envs.iter().any(|(k, v)| *k == IN_LESSON_ENV && v.is_some()));
        assert!(
            envs.iter()
                .filter(|(k, _)| k.to_string_lossy().starts_with("NSLAB_"))
                .all(|(_, v)| v.is_none())
        );
    }
}
