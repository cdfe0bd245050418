// Command tlogcheck checks a C2SP tlog-tiles log with Go's golang.org/x/mod/sumdb
// note and tlog packages: an implementation Plant Registry did not write.
//
// It is built by tests/interop/test_go_interop.py from Debian's golang-go and
// golang-golang-x-mod-dev (GO111MODULE=off GOPATH=/usr/share/gocode) and used as:
//
//	tlogcheck verify -vkey VKEY -origin ORIGIN -base DIR_OR_URL [-token T]
//	          [-index 0,17,9999] [-entries] [-old OLD_CHECKPOINT_FILE] [-checkpoint FILE]
//	tlogcheck open -vkey VKEY -note FILE      # verify a note, print its text
//	tlogcheck sign -name NAME -text FILE      # new key; print vkey and signed note
//
// verify opens the signed checkpoint with note.Open, reads tiles through
// tlog.TileHashReader (which authenticates every tile against the checkpoint's root),
// recomputes the root with tlog.TreeHash, proves and checks each -index with
// ProveRecord/CheckRecord against the RFC 6962 record hash of its entry, re-hashes
// every entry bundle with -entries, and with -old proves and checks that the current
// tree extends the old checkpoint's tree (ProveTree/CheckTree). It prints one JSON
// object and exits 0 when everything verifies, 1 on the first failure.
//
// x/mod's sumdb paths carry the tile height (tile/8/0/...) and call entry bundles
// "data"; C2SP drops the height and says "entries". Only that spelling is mapped here:
// the hashing, tile maths and authentication are all Go's.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

type source struct {
	base  string
	token string
	reads int
}

func (s *source) get(path string) ([]byte, error) {
	s.reads++
	if os.Getenv("TLOGCHECK_TRACE") != "" {
		fmt.Fprintln(os.Stderr, "GET", path)
	}
	if strings.HasPrefix(s.base, "http://") || strings.HasPrefix(s.base, "https://") {
		req, err := http.NewRequest("GET", strings.TrimSuffix(s.base, "/")+"/"+path, nil)
		if err != nil {
			return nil, err
		}
		if s.token != "" {
			req.Header.Set("Authorization", "Bearer "+s.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
		}
		return body, nil
	}
	return os.ReadFile(filepath.Join(s.base, filepath.FromSlash(path)))
}

// c2spPath spells a Go tile coordinate the C2SP way.
func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", height))
	p = strings.Replace(p, "data/", "entries/", 1)
	return "tile/" + p
}

type tileReader struct{ src *source }

func (r tileReader) Height() int { return height }

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := r.src.get(c2spPath(t))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (r tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// parseCheckpoint reads a C2SP checkpoint body (origin, size, base64 root).
func parseCheckpoint(text, origin string) (tlog.Tree, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return tlog.Tree{}, errors.New("checkpoint has fewer than three lines")
	}
	if lines[0] != origin {
		return tlog.Tree{}, fmt.Errorf("checkpoint origin %q, want %q", lines[0], origin)
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return tlog.Tree{}, fmt.Errorf("bad tree size %q", lines[1])
	}
	h, err := tlog.ParseHash(lines[2])
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("bad root hash: %v", err)
	}
	return tlog.Tree{N: n, Hash: h}, nil
}

func openCheckpoint(msg []byte, vkey, origin string) (tlog.Tree, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("verifier key: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("checkpoint note: %v", err)
	}
	return parseCheckpoint(n.Text, origin)
}

// entries splits a bundle of big-endian uint16 length-prefixed entries.
func entries(data []byte) ([][]byte, error) {
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, errors.New("bundle ends inside a length")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			return nil, errors.New("bundle ends inside an entry")
		}
		out = append(out, data[2:2+n])
		data = data[2+n:]
	}
	return out, nil
}

type result struct {
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
	Size       int64  `json:"size"`
	Root       string `json:"root"`
	Proved     int    `json:"proved"`
	Entries    int64  `json:"entries_rehashed"`
	Consistent bool   `json:"consistent_with_old"`
	OldSize    int64  `json:"old_size,omitempty"`
	Reads      int    `json:"reads"`
}

func emit(r result) {
	json.NewEncoder(os.Stdout).Encode(r)
	if !r.OK {
		os.Exit(1)
	}
	os.Exit(0)
}

func verify(args []string) {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	vkey := fs.String("vkey", "", "log verifier key")
	origin := fs.String("origin", "", "expected checkpoint origin")
	base := fs.String("base", "", "directory or URL prefix of the tiles layout")
	token := fs.String("token", "", "bearer token for HTTP")
	indexList := fs.String("index", "", "comma-separated entry indexes to prove")
	all := fs.Bool("entries", false, "re-hash every entry bundle")
	old := fs.String("old", "", "a previously trusted checkpoint file")
	checkpointFile := fs.String("checkpoint", "", "read the checkpoint from this file, not <base>/checkpoint")
	fs.Parse(args)

	src := &source{base: *base, token: *token}
	var res result
	fail := func(err error) {
		res.Error = err.Error()
		res.Reads = src.reads
		emit(res)
	}
	var msg []byte
	var err error
	if *checkpointFile != "" {
		msg, err = os.ReadFile(*checkpointFile)
	} else {
		msg, err = src.get("checkpoint")
	}
	if err != nil {
		fail(err)
	}
	tree, err := openCheckpoint(msg, *vkey, *origin)
	if err != nil {
		fail(err)
	}
	res.Size, res.Root = tree.N, tree.Hash.String()
	hr := tlog.TileHashReader(tree, tileReader{src})
	if tree.N > 0 {
		th, err := tlog.TreeHash(tree.N, hr)
		if err != nil {
			fail(fmt.Errorf("tree hash: %v", err))
		}
		if th != tree.Hash {
			fail(errors.New("tree hash does not match the checkpoint"))
		}
	}

	bundle := func(n int64) ([][]byte, error) {
		w := tree.N - n*(1<<height)
		if w > 1<<height {
			w = 1 << height
		}
		t := tlog.Tile{H: height, L: -1, N: n, W: int(w)}
		data, err := src.get(c2spPath(t))
		if err != nil {
			return nil, err
		}
		es, err := entries(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", c2spPath(t), err)
		}
		if int64(len(es)) != w {
			return nil, fmt.Errorf("%s holds %d entries, want %d", c2spPath(t), len(es), w)
		}
		return es, nil
	}

	if *indexList != "" {
		for _, s := range strings.Split(*indexList, ",") {
			i, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				fail(err)
			}
			es, err := bundle(i >> height)
			if err != nil {
				fail(err)
			}
			rh := tlog.RecordHash(es[i%(1<<height)])
			p, err := tlog.ProveRecord(tree.N, i, hr)
			if err != nil {
				fail(fmt.Errorf("prove record %d: %v", i, err))
			}
			if err := tlog.CheckRecord(p, tree.N, tree.Hash, i, rh); err != nil {
				fail(fmt.Errorf("check record %d: %v", i, err))
			}
			res.Proved++
		}
	}
	if *all {
		for n := int64(0); n*(1<<height) < tree.N; n++ {
			es, err := bundle(n)
			if err != nil {
				fail(err)
			}
			// One ReadHashes per bundle: the tiles it needs are fetched once.
			indexes := make([]int64, len(es))
			for j := range es {
				indexes[j] = tlog.StoredHashIndex(0, n*(1<<height)+int64(j))
			}
			want, err := hr.ReadHashes(indexes)
			if err != nil {
				fail(fmt.Errorf("leaf hashes of bundle %d: %v", n, err))
			}
			for j, e := range es {
				i := n*(1<<height) + int64(j)
				if tlog.RecordHash(e) != want[j] {
					fail(fmt.Errorf("entry %d does not hash to its level-0 tile hash", i))
				}
				res.Entries++
			}
		}
	}
	if *old != "" {
		oldMsg, err := os.ReadFile(*old)
		if err != nil {
			fail(err)
		}
		oldTree, err := openCheckpoint(oldMsg, *vkey, *origin)
		if err != nil {
			fail(fmt.Errorf("old %v", err))
		}
		res.OldSize = oldTree.N
		if oldTree.N > tree.N {
			fail(fmt.Errorf("tree shrank from %d to %d", oldTree.N, tree.N))
		}
		p, err := tlog.ProveTree(tree.N, oldTree.N, hr)
		if err != nil {
			fail(fmt.Errorf("prove tree: %v", err))
		}
		if err := tlog.CheckTree(p, tree.N, tree.Hash, oldTree.N, oldTree.Hash); err != nil {
			fail(fmt.Errorf("check tree %d -> %d: %v", oldTree.N, tree.N, err))
		}
		res.Consistent = true
	}
	res.OK = true
	res.Reads = src.reads
	emit(res)
}

func openNote(args []string) {
	fs := flag.NewFlagSet("open", flag.ExitOnError)
	vkey := fs.String("vkey", "", "verifier key")
	file := fs.String("note", "", "signed note file")
	fs.Parse(args)
	msg, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	v, err := note.NewVerifier(*vkey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "verifier key:", err)
		os.Exit(1)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"text": n.Text, "signatures": len(n.Sigs), "unverified": len(n.UnverifiedSigs),
		"key_hash": fmt.Sprintf("%08x", v.KeyHash()),
	})
}

func signNote(args []string) {
	fs := flag.NewFlagSet("sign", flag.ExitOnError)
	name := fs.String("name", "", "key name")
	file := fs.String("text", "", "note text file")
	fs.Parse(args)
	text, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, *name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, s)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]string{
		"vkey": vkey, "note": base64.StdEncoding.EncodeToString(msg),
	})
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tlogcheck verify|open|sign ...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "verify":
		verify(os.Args[2:])
	case "open":
		openNote(os.Args[2:])
	case "sign":
		signNote(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
