// Package script runs every external script drlb runs — notify scripts of
// VRRP instances and sync groups, vrrp_script track scripts, MISC_CHECK,
// real servers' notify_up/notify_down and virtual servers'
// quorum_up/quorum_down — the way keepalived runs them, with bounds
// keepalived does not have.
//
// What a run does (Run):
//
//   - as its user: setuid/setgid through SysProcAttr.Credential before
//     exec. The user is the script's own ("notify_master CMD USER [GROUP]",
//     "user USER [GROUP]" in vrrp_script and MISC_CHECK), else global_defs
//     script_user, else keepalived's default: user keepalived_script when it
//     exists, otherwise the daemon's own user (root). Supplementary groups are
//     cleared, as keepalived does, unless the group is written ":GROUP" or
//     ":" (keepalived ≥ 2.3), which sets the user's supplementary groups.
//   - in a clean environment: PATH=DefaultPath and nothing of the daemon's
//     environment (keepalived passes its own environment minus IFS,
//     LD_PRELOAD and LD_LIBRARY_PATH), "/" as working directory, stdin
//     /dev/null.
//   - in its own process group: on timeout or cancellation the whole group
//     gets SIGTERM, then SIGKILL after KillGrace; once the script has exited
//     its group is killed too, so nothing it started outlives it (detach with
//     setsid to start a long-lived process).
//   - with bounded output: stdout and stderr go through a Tail that keeps the
//     last DefaultOutputLimit bytes for the log and counts the rest as
//     dropped; memory does not grow with the output.
//
// What is checked before (Prepare, at drlb check, start and every reload),
// following keepalived's check_script_secure: a script that runs as root
// (uid or gid 0, or a set-uid/set-gid root file) is unsafe when the file or
// any directory above it — for the path as written and for the path with
// symbolic links resolved — is not owned by root, or is writable by a
// non-root group or by everyone (a directory with the sticky bit excepted).
// With enable_script_security an unsafe script is disabled: it never runs.
// Without it, it runs and a warning says why it is unsafe. A script whose
// file does not exist, is not executable by its user, or whose user does not
// exist is disabled as keepalived disables it. Every problem is reported at
// the keyword that names the script (FILE:LINE:COL).
//
// A disabled script reports success without running: keepalived removes
// it (a notify script is not run, a tracked vrrp_script no longer counts,
// a MISC_CHECK no longer counts), and success is what a removed script
// amounts to for the callers.
package script
