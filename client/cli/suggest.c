// suggest.c: "did you mean" for a mistyped command, resource type or flag
// (issue 20), the way kubectl (cobra) offers one: the closest known word
// by edit distance, when it is close enough to be the one meant.
#include <string.h>

#include "cli.h"

// Words at most this many edits away are offered (cobra's default).
#define SUGGEST_MAX_DISTANCE 2

// Levenshtein distance of a and b (words are short: a command or flag
// name), capped at 64 characters.
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[65];

	if (la > 64 || lb > 64) {
		return ((size_t) -1);
	}
	for (size_t j = 0; j <= lb; j++) {
		row[j] = j;
	}
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0]      = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up   = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = diag + cost;
			if (up + 1 < best) {
				best = up + 1;
			}
			if (row[j - 1] + 1 < best) {
				best = row[j - 1] + 1;
			}
			row[j] = best;
			diag   = up;
		}
	}
	return (row[lb]);
}

void
sf__cli_suggest_init(cli_suggest *s, const char *word)
{
	s->sg_word    = word;
	s->sg_best[0] = '\0';
	s->sg_dist    = SUGGEST_MAX_DISTANCE + 1;
}

void
sf__cli_suggest_add(cli_suggest *s, const char *cand, size_t n)
{
	char   w[65];
	size_t d;

	if (n == 0 || n >= sizeof(w)) {
		return;
	}
	memcpy(w, cand, n);
	w[n] = '\0';
	d    = distance(s->sg_word, w);
	// A word the user typed the start of counts as close too ("descr").
	if (d > SUGGEST_MAX_DISTANCE && strlen(s->sg_word) >= 3
	    && strncmp(w, s->sg_word, strlen(s->sg_word)) == 0) {
		d = SUGGEST_MAX_DISTANCE;
	}
	if (d < s->sg_dist) {
		s->sg_dist = d;
		memcpy(s->sg_best, w, n + 1);
	}
}

void
sf__cli_suggest_add_aliases(cli_suggest *s, const char *pat)
{
	while (*pat != '\0' && *pat != ' ') {
		size_t n = strcspn(pat, "| ");
		sf__cli_suggest_add(s, pat, n);
		pat += n;
		pat += *pat == '|';
	}
}

const char *
sf__cli_suggest_best(const cli_suggest *s)
{
	return (s->sg_best[0] != '\0' ? s->sg_best : NULL);
}
