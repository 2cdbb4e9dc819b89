//! The llama2.c (SentencePiece-style BPE) tokenizer: pieces with merge scores, byte fallback
//! for anything not in the vocabulary, and a leading space added before encoding.

use super::data_error;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::path::Path;

/// Beginning-of-sequence token id in every llama2.c vocabulary.
pub const BOS: u32 = 1;
/// End-of-sequence token id.
pub const EOS: u32 = 2;

/// A scored vocabulary and its encoder/decoder.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    pieces: Vec<Vec<u8>>,
    scores: Vec<f32>,
    lookup: HashMap<Vec<u8>, u32>,
    byte_tokens: [Option<u32>; 256],
}

impl Tokenizer {
    /// Build from pieces and their merge scores (higher merges first).
    pub fn new(pieces: Vec<Vec<u8>>, scores: Vec<f32>) -> Result<Self, String> {
        if pieces.len() != scores.len() {
            return Err(format!(
                "{} tokens but {} scores",
                pieces.len(),
                scores.len()
            ));
        }
        if pieces.len() <= EOS as usize || pieces.len() > u32::MAX as usize {
            return Err(format!("vocabulary of {} tokens is unusable", pieces.len()));
        }
        if let Some(id) = scores.iter().position(|s| !s.is_finite()) {
            return Err(format!(
                "token {id} has score {}; merge scores must be finite",
                scores[id]
            ));
        }
        let mut lookup = HashMap::with_capacity(pieces.len());
        let mut byte_tokens = [None; 256];
        for (id, p) in pieces.iter().enumerate() {
            let id = id as u32;
            if let Some(b) = byte_piece(p) {
                byte_tokens[b as usize].get_or_insert(id);
            }
            // The first of duplicate pieces wins, as in llama2.c's sorted lookup.
            lookup.entry(p.clone()).or_insert(id);
        }
        Ok(Self {
            pieces,
            scores,
            lookup,
            byte_tokens,
        })
    }

    /// Read a llama2.c `tokenizer.bin`: u32 max length, then per token f32 score, u32 length, bytes.
    pub fn from_llama2c(path: &Path) -> crate::Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| crate::Error::Read {
            path: path.to_owned(),
            source,
        })?;
        let err = |reason: String| data_error(path, reason);
        let mut r = Reader {
            bytes: &bytes,
            pos: 0,
        };
        let max_len = r.u32().ok_or_else(|| err("empty tokenizer file".into()))?;
        let (mut pieces, mut scores) = (Vec::new(), Vec::new());
        while r.pos < bytes.len() {
            let id = pieces.len();
            let truncated = || err(format!("truncated inside token {id}"));
            let score = f32::from_bits(r.u32().ok_or_else(truncated)?);
            let len = r.u32().ok_or_else(truncated)?;
            if len > max_len {
                return Err(err(format!(
                    "token {id} has length {len}, above the declared maximum {max_len}"
                )));
            }
            pieces.push(r.take(len as usize).ok_or_else(truncated)?.to_vec());
            scores.push(score);
        }
        Self::new(pieces, scores).map_err(err)
    }

    /// Number of tokens.
    pub fn vocab(&self) -> usize {
        self.pieces.len()
    }

    /// Token ids of `text` (without BOS), llama2.c style: a space is prepended, each UTF-8
    /// character becomes its token or its bytes' fallback tokens, then the adjacent pair whose
    /// concatenation is the best-scoring token is merged until no pair is a token.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        if text.is_empty() {
            return Vec::new();
        }
        self.merge(self.symbols(text))
    }

    /// The symbols merging starts from: a space, then each character's token or its bytes'
    /// fallback tokens.
    fn symbols(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(text.len() + 1);
        let mut buf = [0u8; 4];
        for ch in std::iter::once(' ').chain(text.chars()) {
            let s = ch.encode_utf8(&mut buf).as_bytes();
            match self.lookup.get(s) {
                Some(&id) => ids.push(id),
                None => ids.extend(s.iter().map(|&b| self.byte_tokens[b as usize].unwrap_or(0))),
            }
        }
        ids
    }

    /// The id of the piece that is `left` followed by `right`, with its score.
    fn pair(&self, left: u32, right: u32, buf: &mut Vec<u8>) -> Option<(f32, u32)> {
        buf.clear();
        buf.extend_from_slice(&self.pieces[left as usize]);
        buf.extend_from_slice(&self.pieces[right as usize]);
        let &id = self.lookup.get(buf.as_slice())?;
        // -0.0 and 0.0 score alike, as llama2.c's `>` has it.
        Some((self.scores[id as usize] + 0.0, id))
    }

    /// llama2.c's merge loop (merge the best-scoring adjacent pair, the leftmost of equals,
    /// until none is a token) in O(n log n) rather than its O(n^2): the symbols form a linked
    /// list, candidate pairs wait in a heap ordered by (score, leftmost), and a candidate whose
    /// symbols changed since it was pushed is skipped when it comes up.
    fn merge(&self, mut ids: Vec<u32>) -> Vec<u32> {
        const NONE: usize = usize::MAX;
        let n = ids.len();
        let mut next: Vec<usize> = (1..=n).map(|i| if i == n { NONE } else { i }).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.checked_sub(1).unwrap_or(NONE)).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::new();
        let mut buf = Vec::new();
        let mut push =
            |heap: &mut BinaryHeap<Candidate>, ids: &[u32], left: usize, right: usize| {
                if let Some((score, merged)) = self.pair(ids[left], ids[right], &mut buf) {
                    heap.push(Candidate {
                        score,
                        left: Reverse(left),
                        right,
                        ids: (ids[left], ids[right]),
                        merged,
                    });
                }
            };
        for i in 1..n {
            push(&mut heap, &ids, i - 1, i);
        }
        while let Some(c) = heap.pop() {
            let (l, r) = (c.left.0, c.right);
            let current = alive[l] && alive[r] && next[l] == r && (ids[l], ids[r]) == c.ids;
            if !current {
                continue;
            }
            ids[l] = c.merged;
            alive[r] = false;
            next[l] = next[r];
            if next[r] != NONE {
                prev[next[r]] = l;
                push(&mut heap, &ids, l, next[l]);
            }
            if prev[l] != NONE {
                push(&mut heap, &ids, prev[l], l);
            }
        }
        (0..n).filter(|&i| alive[i]).map(|i| ids[i]).collect()
    }

    /// The bytes of one token: `<0xNN>` pieces are the raw byte.
    pub fn piece(&self, id: u32) -> &[u8] {
        let p = self.pieces.get(id as usize).map_or(&[][..], Vec::as_slice);
        match byte_piece(p) {
            Some(b) => std::slice::from_ref(&BYTE_VALUES[b as usize]),
            None => p,
        }
    }

    /// Text of tokens produced by [`Tokenizer::encode`] (BOS/EOS skipped, the added leading
    /// space removed); invalid UTF-8 from partial byte sequences is replaced.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &id in ids.iter().filter(|&&id| id != BOS && id != EOS) {
            bytes.extend_from_slice(self.piece(id));
        }
        let text = bytes.strip_prefix(b" ").unwrap_or(&bytes);
        String::from_utf8_lossy(text).into_owned()
    }
}

/// A pair of adjacent symbols that could merge: the best score first, then the leftmost.
#[derive(Debug)]
struct Candidate {
    score: f32,
    left: Reverse<usize>,
    right: usize,
    /// The symbols' ids when the candidate was pushed.
    ids: (u32, u32),
    merged: u32,
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(self.left.cmp(&other.left))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

/// Every byte value, so a byte token can be returned as a slice.
static BYTE_VALUES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    t
};

/// The byte of a `<0xNN>` fallback piece.
fn byte_piece(p: &[u8]) -> Option<u8> {
    let hex = p.strip_prefix(b"<0x")?.strip_suffix(b">")?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// A cursor over a byte buffer that reports running off the end as `None`.
pub(crate) struct Reader<'a> {
    pub bytes: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stories() -> Tokenizer {
        Tokenizer::from_llama2c(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/workloads/models/stories260K/tok512.bin"
        )))
        .unwrap()
    }

    #[test]
    fn round_trips_text_and_uses_byte_fallback() {
        let tok = stories();
        assert_eq!(tok.vocab(), 512);
        let text = "Lily said, â€œI donâ€™t like it!â€\u{9d} Then she smiled.";
        let ids = tok.encode(text);
        assert!(ids.iter().any(|&id| (3..259).contains(&id)), "{ids:?}");
        assert_eq!(tok.decode(&ids), text);
        assert_eq!(
            tok.decode(&tok.encode("Once upon a time")),
            "Once upon a time"
        );
        assert!(tok.encode("Once upon a time").len() < 8);
    }

    #[test]
    fn byte_fallback_ids_follow_llama2c() {
        let tok = stories();
        // U+1F600 is not a piece and no byte pair merges: its UTF-8 bytes become byte + 3.
        let ids = tok.encode("\u{1F600}");
        assert!(
            ids.ends_with(&[0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x80 + 3]),
            "{ids:?}"
        );
    }

    /// llama2.c's own merge loop, quadratic: the reference the heap-based one must match.
    fn reference_encode(tok: &Tokenizer, text: &str) -> Vec<u32> {
        if text.is_empty() {
            return Vec::new();
        }
        let mut ids = tok.symbols(text);
        let mut pair = Vec::new();
        loop {
            let mut best: Option<(f32, usize, u32)> = None;
            for i in 0..ids.len().saturating_sub(1) {
                if let Some((score, id)) = tok.pair(ids[i], ids[i + 1], &mut pair)
                    && best.is_none_or(|(s, _, _)| score > s)
                {
                    best = Some((score, i, id));
                }
            }
            let Some((_, i, id)) = best else { break };
            ids[i] = id;
            ids.remove(i + 1);
        }
        ids
    }

    proptest::proptest! {
        #[test]
        fn any_text_round_trips(text in "\\PC{0,40}") {
            let tok = stories();
            proptest::prop_assert_eq!(tok.decode(&tok.encode(&text)), text);
        }

        #[test]
        fn merges_as_llama2c_does(text in "[a-z .,!']{0,200}") {
            let tok = stories();
            proptest::prop_assert_eq!(tok.encode(&text), reference_encode(&tok, &text));
        }
    }

    #[test]
    fn nan_merge_scores_are_refused() {
        let pieces: Vec<Vec<u8>> = ["<unk>", "<s>", "</s>", "a"]
            .map(|p| p.as_bytes().to_vec())
            .into();
        let e = Tokenizer::new(pieces, vec![0.0, 0.0, 0.0, f32::NAN]).unwrap_err();
        assert!(e.contains("token 3"), "{e}");
    }
}
