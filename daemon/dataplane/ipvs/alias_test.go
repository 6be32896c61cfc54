package ipvs

import cipvs "github.com/cloudflare/ipvs"

type (
	cipvsService     = cipvs.Service
	cipvsDestination = cipvs.Destination
)
