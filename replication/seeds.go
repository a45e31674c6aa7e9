package replication

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Seeds lists the addresses a site asks for the others' ids at its first start (Node.JoinSeeds).
// Discovery calls it again at every round until enough sites answered, so a list that grows
// as the sites come up (DNS records of a service being deployed) is followed.
type Seeds func(ctx context.Context) []string

// StaticSeeds is a fixed list of addresses (cluster.seeds).
func StaticSeeds(addrs []string) Seeds {
	return func(context.Context) []string { return addrs }
}

// DNSSeeds looks the sites up in DNS at every call (cluster.discovery dns): with recordType
// "a", every address of name's A and AAAA records with port (this site's cluster port: all
// sites listen on the same one); with "srv", the target and port of each of name's SRV
// records. A failed lookup gives no seeds for that round (logged at debug: the records of a
// service that is starting may not exist yet). r nil is the default resolver.
func DNSSeeds(r *net.Resolver, name, recordType, port string, log *slog.Logger) Seeds {
	if r == nil {
		r = net.DefaultResolver
	}
	return func(ctx context.Context) []string {
		var out []string
		switch recordType {
		case "srv":
			_, srvs, err := r.LookupSRV(ctx, "", "", name)
			if err != nil {
				log.Debug("replication: DNS discovery", "name", name, "type", "SRV", "err", err)
			}
			for _, s := range srvs {
				out = append(out, net.JoinHostPort(strings.TrimSuffix(s.Target, "."), strconv.Itoa(int(s.Port))))
			}
		default:
			addrs, err := r.LookupIPAddr(ctx, name)
			if err != nil {
				log.Debug("replication: DNS discovery", "name", name, "type", "A", "err", err)
			}
			for _, a := range addrs {
				out = append(out, net.JoinHostPort(a.IP.String(), port))
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
}
