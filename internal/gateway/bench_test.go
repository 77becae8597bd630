package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkCreateUser posts Entra-style users through a real gateway over
// loopback HTTP from 16 concurrent clients; each create is durable (fsync'd)
// before it is answered. On each of benchStores (store=NAME), with the CPU
// per create of this process and of the database server.
func BenchmarkCreateUser(b *testing.B) {
	onStores(b, benchCreateUser)
}

func benchCreateUser(b *testing.B, bs benchStore) {
	st, srv := bs.open(b)
	base := startGatewayOn(b, st)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	var n atomic.Int64
	b.SetParallelism(8) // 2 cores x 8 = 16 clients
	cpu0, db0 := cpuTime(), serverCPU(b, srv)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bench%d@contoso.com","externalId":"e%d","active":true,"name":{"givenName":"G","familyName":"F"},"emails":[{"type":"work","primary":true,"value":"bench%d@contoso.com"}],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","employeeNumber":"%d"}}`, i, i, i, i)
			req, _ := http.NewRequest("POST", base+"/Users", bytes.NewReader([]byte(body)))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Content-Type", "application/scim+json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 201 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
	b.StopTimer()
	reportCPU(b, srv, b.N, cpuTime()-cpu0, serverCPU(b, srv)-db0)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// BenchmarkPatchUser sends Entra-style per-attribute PATCHes to 1,000
// existing users from 16 concurrent clients, on each of benchStores.
func BenchmarkPatchUser(b *testing.B) {
	onStores(b, benchPatchUser)
}

func benchPatchUser(b *testing.B, bs benchStore) {
	st, srv := bs.open(b)
	base := startGatewayOn(b, st)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	send := func(method, url, body string) []byte {
		req, _ := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			b.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, out)
		}
		return out
	}
	ids := make([]string, 1000)
	for i := range ids {
		out := send("POST", base+"/Users", fmt.Sprintf(`{"userName":"p%d@contoso.com","active":true,"emails":[{"type":"work","value":"p%d@contoso.com"}]}`, i, i))
		var created struct{ ID string }
		_ = json.Unmarshal(out, &created)
		ids[i] = created.ID
	}
	var n atomic.Int64
	b.SetParallelism(8)
	cpu0, db0 := cpuTime(), serverCPU(b, srv)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			send("PATCH", base+"/Users/"+ids[i%int64(len(ids))], fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"name.familyName","value":"F%d"},{"op":"Replace","path":"emails[type eq \"work\"].value","value":"x%d@contoso.com"}]}`, i, i))
		}
	})
	b.StopTimer()
	reportCPU(b, srv, b.N, cpuTime()-cpu0, serverCPU(b, srv)-db0)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "patches/s")
}

// BenchmarkQueryUserName runs Entra's match query (userName eq) for random
// existing users among 2,000 from 16 concurrent clients, on each of
// benchStores.
func BenchmarkQueryUserName(b *testing.B) {
	onStores(b, benchQueryUserName)
}

func benchQueryUserName(b *testing.B, bs benchStore) {
	st, srv := bs.open(b)
	base := startGatewayOn(b, st)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const users = 2000
	for i := 0; i < users; i++ {
		req, _ := http.NewRequest("POST", base+"/Users", strings.NewReader(fmt.Sprintf(`{"userName":"q%d@contoso.com","active":true}`, i)))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var n atomic.Int64
	b.SetParallelism(8)
	cpu0, db0 := cpuTime(), serverCPU(b, srv)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1) % users
			q := url.Values{"filter": {fmt.Sprintf(`userName eq "q%d@contoso.com"`, i)}}
			req, _ := http.NewRequest("GET", base+"/Users?"+q.Encode(), nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
	b.StopTimer()
	reportCPU(b, srv, b.N, cpuTime()-cpu0, serverCPU(b, srv)-db0)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}
