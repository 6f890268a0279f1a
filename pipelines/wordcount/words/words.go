// Package words is the data side of the word-count example: a fixed
// vocabulary of common English words, the tokenizer the pipeline splits
// records with, and a Producer that puts random words on a Kinesis data
// stream at a steady rate and reports exactly how many times it put each
// word, so that a consumer's counts can be checked against it.
//
//	client, err := words.NewClient(ctx, "us-east-1", "")
//	...
//	p, err := words.NewProducer(client, words.Config{
//		Stream: "words", Rate: 200, WordsPerRecord: 5, Duration: 30 * time.Second, Seed: 1,
//	})
//	...
//	res, err := p.Run(ctx) // res.Words["the"] is how many times "the" was put
package words

import (
	"strings"
	"unicode"
)

// Vocabulary is the fixed set of words the Producer draws from: 50 of the
// most common English words, most frequent first. The Producer picks them
// with a Zipf-like distribution (the first word about 30 times as often as
// the last), as in real text.
var Vocabulary = []string{
	"the", "of", "and", "to", "a", "in", "is", "you", "that", "it",
	"he", "was", "for", "on", "are", "as", "with", "his", "they", "at",
	"be", "this", "have", "from", "or", "one", "had", "by", "word", "but",
	"not", "what", "all", "were", "we", "when", "your", "can", "said", "there",
	"use", "an", "each", "which", "she", "do", "how", "their", "if", "will",
}

// Split returns the words of a record's payload, lower-cased. A word is a
// maximal run of letters, digits and apostrophes; everything else
// separates words. Split(Join(w)) == w for words of the Vocabulary.
func Split(data []byte) []string {
	fields := strings.FieldsFunc(string(data), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	})
	for i, f := range fields {
		fields[i] = strings.ToLower(f)
	}
	return fields
}

// Join is the payload the Producer puts for a record made of ws: the
// words separated by single spaces.
func Join(ws []string) []byte {
	return []byte(strings.Join(ws, " "))
}
