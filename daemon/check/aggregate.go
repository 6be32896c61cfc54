package check

// VirtualServerPolicy is a virtual server's quorum configuration.
type VirtualServerPolicy struct {
	// Quorum is the minimum total weight of alive real servers (keepalived
	// default 1).
	Quorum int
	// Hysteresis widens the band: quorum is gained at Quorum+Hysteresis and
	// lost below Quorum-Hysteresis.
	Hysteresis int
	// HasSorryServer is true when a sorry_server is configured.
	HasSorryServer bool
}

// RealServerHealth is the input of AggregateVirtualServer for one server.
type RealServerHealth struct {
	Up     bool
	Weight int
}

// VirtualServerState is a virtual server's aggregate health.
type VirtualServerState struct {
	// AliveServers counts real servers that are up.
	AliveServers int
	// AliveWeight sums the weights of real servers that are up.
	AliveWeight int
	// QuorumUp is the quorum state after hysteresis.
	QuorumUp bool
	// SorryActive is true when the sorry server must receive the traffic:
	// quorum is lost and a sorry server is configured.
	SorryActive bool
}

// AggregateVirtualServer computes the virtual server state from its real
// servers and the previous quorum state, as keepalived does: quorum is
// gained when the alive weight reaches Quorum+Hysteresis, lost when it
// falls below Quorum-Hysteresis, and kept otherwise. For the first
// evaluation pass prevQuorumUp = InitialQuorumUp(...).
func AggregateVirtualServer(prevQuorumUp bool, servers []RealServerHealth, p VirtualServerPolicy) VirtualServerState {
	var st VirtualServerState
	for _, s := range servers {
		if s.Up {
			st.AliveServers++
			st.AliveWeight += s.Weight
		}
	}
	quorum := p.Quorum
	if quorum <= 0 {
		quorum = 1
	}
	st.QuorumUp = prevQuorumUp
	if prevQuorumUp && st.AliveWeight < quorum-p.Hysteresis {
		st.QuorumUp = false
	} else if !prevQuorumUp && st.AliveWeight >= quorum+p.Hysteresis {
		st.QuorumUp = true
	}
	st.SorryActive = !st.QuorumUp && p.HasSorryServer
	return st
}

// InitialQuorumUp is the quorum state before any transition: alive weight
// at least Quorum+Hysteresis, as keepalived's set_quorum_states decides it
// (a service starts without quorum until it could also gain it).
func InitialQuorumUp(servers []RealServerHealth, p VirtualServerPolicy) bool {
	quorum := p.Quorum
	if quorum <= 0 {
		quorum = 1
	}
	w := 0
	for _, s := range servers {
		if s.Up {
			w += s.Weight
		}
	}
	return w >= quorum+p.Hysteresis
}
