package fakekinesis

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// iteratorPrefix starts every shard iterator this server issues.
const iteratorPrefix = "fki1."

// iterator is the decoded content of a shard iterator: stream, shard,
// position (index of the next record) and issue time.
type iterator struct {
	Stream string `json:"s"`
	Gen    uint64 `json:"g"`
	Shard  int    `json:"h"`
	Pos    int    `json:"p"`
	Issued int64  `json:"t"`
}

// encodeIterator returns the opaque string for it.
func encodeIterator(it iterator) string {
	b, _ := json.Marshal(it)
	return iteratorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// decodeIterator parses an iterator string; ok is false for anything this
// server did not issue.
func decodeIterator(s string) (it iterator, ok bool) {
	rest, found := strings.CutPrefix(s, iteratorPrefix)
	if !found {
		return it, false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || json.Unmarshal(b, &it) != nil || it.Pos < 0 || it.Shard < 0 || it.Stream == "" {
		return iterator{}, false
	}
	return it, true
}

// expired reports whether the iterator is older than ttl at now.
func (it iterator) expired(now time.Time, ttl time.Duration) bool {
	return now.Sub(time.Unix(0, it.Issued)) > ttl
}

// pageToken is the decoded content of a ListShards, ListStreams or
// ListStreamConsumers NextToken.
type pageToken struct {
	Stream string       `json:"s,omitempty"`
	After  string       `json:"a"`
	Filter *shardFilter `json:"f,omitempty"`
	Issued int64        `json:"t"`
}

// encodeToken returns the opaque NextToken for t.
func encodeToken(t pageToken) *string {
	b, _ := json.Marshal(t)
	s := base64.RawURLEncoding.EncodeToString(b)
	return &s
}

// decodeToken parses a NextToken, answering InvalidArgumentException for
// garbage and ExpiredNextTokenException for old tokens.
func (c *call) decodeToken(s string) (pageToken, error) {
	var t pageToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &t) != nil {
		return t, errf(errInvalidArgument, "Invalid NextToken.")
	}
	if c.now.Sub(time.Unix(0, t.Issued)) > c.s.opts.nextTokenTTL {
		return t, errf(errExpiredNextToken, "NextToken has expired.")
	}
	return t, nil
}
