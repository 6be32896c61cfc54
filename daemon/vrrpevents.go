package daemon

import "github.com/drlb/drlb/daemon/notify"

// vrrpEvent is vrrp.Options.OnEvent: keepalived's notify FIFO line for an
// instance event that is not a state (MASTER_RX_LOWER_PRI,
// MASTER_PRIORITY, BACKUP_PRIORITY), on the FIFOs that take VRRP lines.
func (n *notifier) vrrpEvent(name, event string, priority uint8) {
	if n == nil {
		return
	}
	n.write(notify.InstanceLine(name, event, int(priority)), n.all, n.vrrp)
}
