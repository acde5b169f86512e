#!/usr/bin/env bash
# Tests the student's session (vagrant/nslab-session) in a private tmux server, with a stand-in
# nslab that records how it was called and exits with the code we choose: what the left pane
# says and offers after `nslab learn` exits 0, 130 or 3, what each answer runs, that `q` closes
# the session, and that the right pane is a root shell with the banner.
#
#   test-session.sh [STUDENT]
#
# With STUDENT, it also tests the login hook as installed (/etc/profile.d/nslab-login.sh and
# /etc/nslab/student, by provision.sh or deploy/site.yml): it opens the session for STUDENT's
# interactive login on a terminal, and for no one else. Run as root (CI does).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "test-session.sh: run it as root" >&2; exit 2; }
work=$(mktemp -d)
chmod 755 "$work"
sock=nslab-session-test-$$
cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "test-session: FAIL: $*" >&2
  exit 1
}

mkdir "$work/bin"
cat >"$work/bin/nslab" <<EOF
#!/bin/sh
echo "\$*" >>"$work/calls"
echo "stand-in nslab: \$*"
exit "\$(cat "$work/code")"
EOF
chmod 755 "$work/bin/nslab"
echo "BANNER: this is the root shell" >"$work/banner"
export PATH="$work/bin:$PATH" NSLAB_TMUX_SOCKET=$sock NSLAB_BANNER=$work/banner

screen() { tmux -L "$sock" capture-pane -p -J -t "nslab:0.$1"; }
# wait_for PANE TEXT: up to 10 s for TEXT to be on the pane's screen.
wait_for() {
  local _
  for _ in $(seq 100); do
    if screen "$1" | grep -qF -- "$2"; then return 0; fi
    sleep 0.1
  done
  screen "$1" >&2
  fail "pane $1 never showed: $2"
}
last_call() {
  local got
  got=$(tail -n 1 "$work/calls")
  [ "$got" = "$1" ] || fail "nslab was last called as '$got', expected '$1'"
}
answer() { tmux -L "$sock" send-keys -t nslab:0.0 "$1" Enter; }

echo 0 >"$work/code"
bash "$here/nslab-session" start
[ "$(tmux -L "$sock" list-panes -t nslab | wc -l)" -eq 2 ] || fail "the session has not two panes"

# A lesson completes: the left pane says so and offers the next one.
wait_for 0 "Well done: that lesson is complete."
wait_for 0 "Enter  the first lesson you have not finished"
last_call "learn"
# The right pane: the banner, and a root shell.
wait_for 1 "BANNER: this is the root shell"
# shellcheck disable=SC2016 # typed into the pane, expanded there
tmux -L "$sock" send-keys -t nslab:0.1 'echo "uid=$(id -u)"' Enter
wait_for 1 "uid=0"

# l lists the lessons, and asks again.
answer l
wait_for 0 "stand-in nslab: list"
last_call "list"

# Enter starts the next lesson; the student leaves it (130): the pane says how to resume.
echo 130 >"$work/code"
answer ""
wait_for 0 "You left the lesson; your progress is saved"
last_call "learn"

# A lesson named by the student, which fails (3): the pane gives the code and how to go on.
echo 3 >"$work/code"
answer veth-lab
wait_for 0 "nslab learn stopped with exit code 3"
wait_for 0 "Enter tries again, where you left off"
last_call "learn veth-lab"

# q closes the whole session.
answer q
for _ in $(seq 50); do
  tmux -L "$sock" has-session -t nslab 2>/dev/null || break
  sleep 0.1
done
if tmux -L "$sock" has-session -t nslab 2>/dev/null; then fail "q did not close the session"; fi
[ "$(wc -l <"$work/calls")" -eq 4 ] || fail "nslab was called $(wc -l <"$work/calls") times, expected 4"
echo "test-session: the session: ok"

[ $# -ge 1 ] || exit 0
student=$1
hook=/etc/profile.d/nslab-login.sh
[ -r "$hook" ] || fail "$hook is not installed"
[ "$(cat /etc/nslab/student)" = "$student" ] || fail "/etc/nslab/student does not name $student"
mkdir "$work/hook"
cat >"$work/hook/nslab-session" <<'EOF'
#!/bin/sh
echo "session opened for $(id -un)"
EOF
chmod 755 "$work/hook/nslab-session"
# login_as N USER REDIRECT: an interactive sh on a terminal (a tmux pane) as USER sources the
# hook; prints what it wrote.
login_as() {
  local out=$work/login-$1
  tmux -L "$sock" new-session -d -s "login-$1" \
    "env -u TMUX su $2 -s /bin/sh -c 'PATH=$work/hook:\$PATH exec sh -i -c \". $hook; echo hook passed\" $3' >$out 2>&1"
  for _ in $(seq 100); do
    if grep -q "session opened\|hook passed" "$out" 2>/dev/null; then break; fi
    sleep 0.1
  done
  cat "$out"
}
got=$(login_as 1 "$student" "")
grep -qx "session opened for $student" <<<"$got" || fail "the student's login did not open the session: $got"
got=$(login_as 2 root "")
grep -qx "hook passed" <<<"$got" || fail "root's login opened the session: $got"
got=$(login_as 3 "$student" "</dev/null")
grep -qx "hook passed" <<<"$got" || fail "a login without a terminal opened the session: $got"
echo "test-session: the login hook: ok"
