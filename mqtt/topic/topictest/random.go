// Package topictest generates random topic names and filters for tests that compare a clever matcher
// with a naive one (this package's own tests, the subscription index, the fuzz targets), and the
// naive matcher itself (NaiveMatch).
package topictest

import "math/rand/v2"

// randomLevels is the alphabet of the random topics: few values, so that random filters and names
// collide often, with the cases that matter ('$', empty levels) well represented.
var randomLevels = []string{"a", "b", "", "$x", "ab"}

// RandomName returns a random valid topic name of one to five levels from a small alphabet. Tests of
// use it to compare clever matchers with naive ones.
func RandomName(r *rand.Rand) string {
	return randomTopic(r, false)
}

// RandomFilter returns a random valid topic filter over the alphabet of RandomName, with '+' and '#'.
func RandomFilter(r *rand.Rand) string {
	return randomTopic(r, true)
}

func randomTopic(r *rand.Rand, filter bool) string {
	n := 1 + r.IntN(5)
	var b []byte
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, '/')
		}
		if filter {
			switch r.IntN(6) {
			case 0:
				b = append(b, '+')
				continue
			case 1:
				return string(append(b, '#'))
			}
		}
		b = append(b, randomLevels[r.IntN(len(randomLevels))]...)
	}
	if len(b) == 0 {
		b = append(b, '/') // "" is not a valid topic; "/" is
	}
	return string(b)
}
