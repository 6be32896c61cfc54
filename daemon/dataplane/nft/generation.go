package nft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nfnlSubsysNFTables is NFNL_SUBSYS_NFTABLES from linux/netfilter/nfnetlink.h.
const nfnlSubsysNFTables = 10

// ruleGeneration returns the nftables ruleset generation of the calling
// thread's network namespace (NFT_MSG_GETGEN). Every commit, by anyone,
// increments it, so an unchanged generation means an unchanged ruleset.
func ruleGeneration() (uint32, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return 0, fmt.Errorf("nft: dial netfilter netlink: %w", err)
	}
	defer func() { _ = c.Close() }() // a query: nothing to flush
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysNFTables<<8 | unix.NFT_MSG_GETGEN), Flags: netlink.Request},
		// struct nfgenmsg: family AF_UNSPEC, version NFNETLINK_V0, resource id 0.
		Data: []byte{unix.AF_UNSPEC, 0, 0, 0},
	})
	if err != nil {
		return 0, fmt.Errorf("nft: get ruleset generation: %w", err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, fmt.Errorf("nft: decode ruleset generation: %w", err)
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
		if err := ad.Err(); err != nil {
			return 0, fmt.Errorf("nft: decode ruleset generation: %w", err)
		}
	}
	return 0, fmt.Errorf("nft: no generation id in the kernel's answer")
}

// udataRuleComment is NFTNL_UDATA_RULE_COMMENT: a rule's user data is a
// list of (type u8, length u8, value) records, the comment is type 0 with
// its terminating NUL.
const udataRuleComment = 0

// ruleCommentsNetlink dumps the rules of table (family netdev) in the
// calling thread's network namespace and returns each chain's rule
// comments in order ("" for a rule without one). It reads only the rules'
// chain and user data, so it costs milliseconds where `nft list` spends
// most of its time caching map elements it is not asked to print.
func ruleCommentsNetlink(table string) (map[string][]string, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("nft: dial netfilter netlink: %w", err)
	}
	defer func() { _ = c.Close() }() // a query: nothing to flush
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NFTA_RULE_TABLE, table)
	attrs, err := ae.Encode()
	if err != nil {
		return nil, fmt.Errorf("nft: encode rule dump request: %w", err)
	}
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysNFTables<<8 | unix.NFT_MSG_GETRULE), Flags: netlink.Request | netlink.Dump},
		Data:   append([]byte{unix.NFPROTO_NETDEV, 0, 0, 0}, attrs...),
	})
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, fmt.Errorf("nft: dump rules of netdev %s: %w", table, err)
	}
	chains := map[string][]string{}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		chain, comment, err := decodeRule(m.Data[4:])
		if err != nil {
			return nil, err
		}
		chains[chain] = append(chains[chain], comment)
	}
	return chains, nil
}

// decodeRule returns the chain and comment of one NFT_MSG_NEWRULE message
// (attributes after struct nfgenmsg).
func decodeRule(b []byte) (chain, comment string, err error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return "", "", fmt.Errorf("nft: decode rule: %w", err)
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_RULE_CHAIN:
			chain = ad.String()
		case unix.NFTA_RULE_USERDATA:
			comment = udataComment(ad.Bytes())
		}
	}
	if err := ad.Err(); err != nil {
		return "", "", fmt.Errorf("nft: decode rule: %w", err)
	}
	return chain, comment, nil
}

// udataComment extracts the comment from a rule's user data ("" if none).
func udataComment(u []byte) string {
	for len(u) >= 2 {
		typ, n := u[0], int(u[1])
		if len(u) < 2+n {
			return ""
		}
		if typ == udataRuleComment {
			return strings.TrimRight(string(u[2:2+n]), "\x00")
		}
		u = u[2+n:]
	}
	return ""
}
