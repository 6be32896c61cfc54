// Package maglev builds weighted Maglev consistent-hash lookup tables
// (Eisenbud et al., NSDI 2016). The table depends only on the set of
// backends and their weights, never on input order, so every balancer
// computes the same table, and removing one backend moves few flows of the
// others.
package maglev

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
)

// Backend is one weighted entry of a lookup table.
type Backend struct {
	// ID identifies the backend (for example "10.0.0.1:80"); it seeds the
	// backend's slot preferences, so it must be stable.
	ID string
	// Weight is the backend's share; 0 leaves it out of the table.
	Weight uint32
}

// ErrSize is returned for a table size that is not a prime ≥ 2.
var ErrSize = errors.New("maglev: table size must be a prime of at least 2")

// minSlotsPerBackend sets SizeFor's table size: enough slots per backend to
// keep weight shares within a few percent.
const minSlotsPerBackend = 8

// minSlots is the smallest table SizeFor returns: few backends need more
// than 8 slots each to keep the disruption of removing one low.
const minSlots = 53

// SizeFor returns the table size drlb uses for n backends: the smallest
// prime ≥ 8·n (at least 53). Eight slots per backend keep each weight's
// share within half a slot and the flows moved by removing a backend
// under 10 % (TestRemovalDisruption), at half the entries of 16: the nft
// data plane loads every slot into the kernel.
func SizeFor(n int) int { return NextPrime(max(minSlots, minSlotsPerBackend*n)) }

// ScaleOutSize is the table size of services announced by BGP from several
// directors (scale-out): the Maglev paper's 65,537. Removing one of N
// backends then moves at most 0.7 % of the other backends' flows for every
// N from 2 to 64 (TestScaleOutDisruption), against 9.5-11 % at SizeFor's
// sizes; a flow that a router moves to another director and a real server
// that fails are then rarely felt by other flows. The cost is one nft map
// element per slot (BenchmarkScaleOutApply in the nft package).
const ScaleOutSize = 65537

// NextPrime returns the smallest prime ≥ n.
func NextPrime(n int) int {
	if n <= 2 {
		return 2
	}
	for p := n | 1; ; p += 2 {
		if isPrime(p) {
			return p
		}
	}
}

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

func hash(seed byte, id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte{seed})
	h.Write([]byte(id))
	return h.Sum64()
}

// Build returns a lookup table of size entries: entry i is the ID of the
// backend that flows hashing to slot i go to. Each backend with a non-zero
// weight gets a share of the slots proportional to its weight (rounded,
// largest remainders first). With no weighted backends the table is nil.
// Duplicate IDs are an error.
func Build(backends []Backend, size int) ([]string, error) {
	if size < 2 || !isPrime(size) {
		return nil, fmt.Errorf("%w (got %d)", ErrSize, size)
	}
	var bs []Backend
	seen := map[string]bool{}
	var total uint64
	for _, b := range backends {
		if seen[b.ID] {
			return nil, fmt.Errorf("maglev: backend %q listed twice", b.ID)
		}
		seen[b.ID] = true
		if b.Weight > 0 {
			bs = append(bs, b)
			total += uint64(b.Weight)
		}
	}
	if len(bs) == 0 {
		return nil, nil
	}
	slices.SortFunc(bs, func(a, b Backend) int { return cmp.Compare(a.ID, b.ID) })

	// Quotas by the largest-remainder method.
	quota := make([]int, len(bs))
	rem := make([]uint64, len(bs))
	given := 0
	for i, b := range bs {
		q := uint64(size) * uint64(b.Weight)
		quota[i] = int(q / total)
		rem[i] = q % total
		given += quota[i]
	}
	order := make([]int, len(bs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rem[b], rem[a]) })
	for _, i := range order[:size-given] {
		quota[i]++
	}

	offset := make([]uint64, len(bs))
	skip := make([]uint64, len(bs))
	next := make([]uint64, len(bs))
	for i, b := range bs {
		offset[i] = hash(1, b.ID) % uint64(size)
		skip[i] = hash(2, b.ID)%uint64(size-1) + 1
	}
	owner := make([]int, size)
	for i := range owner {
		owner[i] = -1
	}
	count := make([]int, len(bs))
	for filled := 0; filled < size; {
		for i := range bs {
			if count[i] >= quota[i] {
				continue
			}
			for {
				slot := (offset[i] + next[i]*skip[i]) % uint64(size)
				next[i]++
				if owner[slot] < 0 {
					owner[slot] = i
					count[i]++
					filled++
					break
				}
			}
			if filled == size {
				break
			}
		}
	}
	table := make([]string, size)
	for slot, i := range owner {
		table[slot] = bs[i].ID
	}
	return table, nil
}

// Disruption returns the share of slots (0..1) whose backend differs
// between before and after, counting only slots whose backend in before is
// still in after: the flows of the remaining backends that would move.
func Disruption(before, after []string) float64 {
	if len(before) != len(after) || len(before) == 0 {
		return 1
	}
	present := map[string]bool{}
	for _, id := range after {
		present[id] = true
	}
	moved, considered := 0, 0
	for i := range before {
		if !present[before[i]] {
			continue
		}
		considered++
		if before[i] != after[i] {
			moved++
		}
	}
	if considered == 0 {
		return 0
	}
	return float64(moved) / float64(considered)
}
