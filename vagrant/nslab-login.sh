# Installed as /etc/profile.d/nslab-login.sh by nslab's vagrant/provision.sh and deploy/site.yml.
# The student's interactive login (ssh, vagrant ssh, a text console) opens the lesson session.
# Only the user named in /etc/nslab/student gets it; `ssh -t HOST bash` (no login shell) or a
# command given to ssh skips it. This file is sourced by /etc/profile (sh, not only bash).
if [ -z "${TMUX:-}" ] && [ -t 0 ] && [ -r /etc/nslab/student ]; then
  case $- in
    *i*)
      if [ "$(id -un)" = "$(cat /etc/nslab/student)" ] && command -v nslab-session >/dev/null 2>&1; then
        exec nslab-session
      fi
      ;;
  esac
fi
