package config

import "strings"

// ScriptRef is one script the configuration runs, where it is written and
// as whom it runs. Parsing records one per notify_* / notify / notify_up /
// notify_down / quorum_up / quorum_down keyword, per vrrp_script's script
// and per MISC_CHECK's misc_path, in file order, so that the script runner
// (package daemon/script) can check each file and report problems at the
// keyword (FILE:LINE:COL), as keepalived checks its scripts at start-up.
type ScriptRef struct {
	// Pos is the position of the keyword (notify_master, script, misc_path …).
	Pos Position `json:"pos"`
	// Keyword is the keyword that names the script.
	Keyword string `json:"keyword"`
	// Owner names the block, for messages: "vrrp_instance VI_1",
	// "vrrp_script chk", "real_server 10.0.0.1:80".
	Owner string `json:"owner"`
	// Command is the command line as written (quotes of a quoted string removed).
	Command string `json:"command"`
	// User is "USER [[:]GROUP]" from the keyword's trailing words or the
	// block's user keyword; empty means global_defs script_user (or
	// keepalived's default).
	User string `json:"user,omitempty"`
}

// addScriptRef records a script reference (see ScriptRef).
func (p *parser) addScriptRef(n *node, owner, command, user string) {
	p.scriptRefs = append(p.scriptRefs, ScriptRef{Pos: p.pos(n.key.pos), Keyword: n.key.text, Owner: owner,
		Command: command, User: strings.TrimSpace(user)})
}
