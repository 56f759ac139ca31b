// Command interop verifies a served OneWindow ledger with Go's own transparency-log code
// (golang.org/x/mod/sumdb/note and sumdb/tlog), which nobody on this project wrote: the
// checkpoint's log signature, the tree hash rebuilt from the C2SP tiles, and inclusion
// proofs for sampled entries read from the entry bundles.
//
//	go run . -url http://127.0.0.1:8080/ledger -vkey <name+id+key> -samples 20
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const tileHeight = 8
const tileWidth = 1 << tileHeight

var client = &http.Client{Timeout: 30 * time.Second}

func main() {
	base := flag.String("url", "", "ledger base URL, e.g. http://127.0.0.1:8080/ledger")
	vkey := flag.String("vkey", "", "the log's note verifier key <name>+<hex id>+<base64 key>")
	samples := flag.Int("samples", 16, "how many entries to prove included")
	flag.Parse()
	if *base == "" || *vkey == "" || *samples < 0 {
		fmt.Fprintln(os.Stderr, "usage: interop -url <base>/ledger -vkey <verifier key> [-samples n]")
		os.Exit(2)
	}
	summary, err := run(strings.TrimSuffix(*base, "/"), *vkey, *samples)
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println(summary)
}

func run(base, vkey string, samples int) (string, error) {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return "", fmt.Errorf("verifier key: %w", err)
	}
	raw, err := fetch(base + "/checkpoint")
	if err != nil {
		return "", err
	}
	// Cosignature lines of witnesses Go does not know are skipped; Open fails only when no
	// known key verified, or a known key's signature is bad.
	n, err := note.Open(raw, note.VerifierList(verifier))
	if err != nil {
		return "", fmt.Errorf("checkpoint signature: %w", err)
	}
	origin, size, root, err := parseCheckpoint(n.Text)
	if err != nil {
		return "", err
	}
	if origin != verifier.Name() {
		return "", fmt.Errorf("checkpoint origin %q is not the key name %q", origin, verifier.Name())
	}

	reader := &tileReader{base: base, paths: map[string]bool{}}
	hashes := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, reader)
	treeHash, err := tlog.TreeHash(size, hashes)
	if err != nil {
		return "", fmt.Errorf("tree hash from tiles: %w", err)
	}
	if treeHash != root {
		return "", fmt.Errorf("tree hash from tiles %v != checkpoint root %v", treeHash, root)
	}

	indices := sample(size, samples)
	for _, i := range indices {
		record, err := entryFromBundle(base, size, i)
		if err != nil {
			return "", err
		}
		single, err := fetch(base + "/entries/" + strconv.FormatInt(i, 10))
		if err != nil {
			return "", err
		}
		if !bytes.Equal(single, record) {
			return "", fmt.Errorf("entry %d: /entries/%d differs from its entry bundle", i, i)
		}
		proof, err := tlog.ProveRecord(size, i, hashes)
		if err != nil {
			return "", fmt.Errorf("entry %d: inclusion proof from tiles: %w", i, err)
		}
		if err := tlog.CheckRecord(proof, size, root, i, tlog.RecordHash(record)); err != nil {
			return "", fmt.Errorf("entry %d: inclusion proof does not verify: %w", i, err)
		}
	}
	tiles := make([]string, 0, len(reader.paths))
	for p := range reader.paths {
		tiles = append(tiles, p)
	}
	sort.Strings(tiles)
	return fmt.Sprintf("OK origin=%s size=%d root=%s proved=%d signer=%s tiles=%s",
		origin, size, root, len(indices), verifier.Name(), strings.Join(tiles, ",")), nil
}

// parseCheckpoint reads a C2SP tlog-checkpoint body: origin, decimal size, base64 root,
// then optional extension lines.
func parseCheckpoint(text string) (string, int64, tlog.Hash, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return "", 0, tlog.Hash{}, fmt.Errorf("checkpoint has %d lines, want >= 3", len(lines))
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return "", 0, tlog.Hash{}, fmt.Errorf("checkpoint size %q is not a decimal count", lines[1])
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != tlog.HashSize {
		return "", 0, tlog.Hash{}, fmt.Errorf("checkpoint root %q is not a base64 SHA-256", lines[2])
	}
	var root tlog.Hash
	copy(root[:], rootBytes)
	return lines[0], size, root, nil
}

// tileIndex writes N in 3-digit groups, all but the last prefixed with x (c2sp.org/tlog-tiles).
func tileIndex(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// tilePath is the C2SP path: tile/<L>/<N>[.p/<W>] (Go's Tile.Path adds the height).
func tilePath(kind string, n int64, w int) string {
	p := "tile/" + kind + "/" + tileIndex(n)
	if w < tileWidth {
		p += ".p/" + strconv.Itoa(w)
	}
	return p
}

type tileReader struct {
	base  string
	paths map[string]bool // distinct tiles read
}

func (r *tileReader) Height() int { return tileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if t.H != tileHeight || t.L < 0 {
			return nil, fmt.Errorf("unexpected tile %+v", t)
		}
		path := tilePath(strconv.Itoa(t.L), t.N, t.W)
		data, err := fetch(r.base + "/" + path)
		if err != nil {
			return nil, err
		}
		if len(data) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("%s: %d bytes, want %d", path, len(data), t.W*tlog.HashSize)
		}
		out[i] = data
		r.paths[path] = true
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// entryFromBundle reads entry i from its entry bundle (2-byte big-endian length + bytes each).
func entryFromBundle(base string, size, i int64) ([]byte, error) {
	n := i / tileWidth
	w := tileWidth
	if n == size/tileWidth {
		w = int(size % tileWidth)
	}
	path := tilePath("entries", n, w)
	data, err := fetch(base + "/" + path)
	if err != nil {
		return nil, err
	}
	for k := 0; k < w; k++ {
		if len(data) < 2 || len(data) < 2+int(binary.BigEndian.Uint16(data)) {
			return nil, fmt.Errorf("%s: truncated at entry %d of %d", path, k, w)
		}
		length := int(binary.BigEndian.Uint16(data))
		entry := data[2 : 2+length]
		data = data[2+length:]
		if int64(k) == i%tileWidth {
			return entry, nil
		}
	}
	return nil, errors.New(path + ": entry not found")
}

// sample picks the first and last entries, the tile edges 255/256, and evenly spread others.
func sample(size int64, count int) []int64 {
	seen := map[int64]bool{}
	var out []int64
	add := func(i int64) {
		if i >= 0 && i < size && !seen[i] && len(out) < count {
			seen[i] = true
			out = append(out, i)
		}
	}
	for _, i := range []int64{0, size - 1, tileWidth - 1, tileWidth} {
		add(i)
	}
	for k := int64(0); k < int64(count) && len(out) < count && int64(len(out)) < size; k++ {
		add(k * size / int64(count))
		add(k*size/int64(count) + 1)
	}
	return out
}

func fetch(url string) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, bytes.TrimSpace(body))
	}
	return body, nil
}
