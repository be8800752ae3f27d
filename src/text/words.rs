//! Word segmentation: the words of UAX #29, with a fast path for ASCII.
//!
//! Why a fast path: `unicode_words` looks up every character's word-break property in
//! Unicode tables and carries a general state machine; on English text that was about a
//! sixth of all tokenizing time. ASCII text needs only a handful of the rules, which a byte
//! scanner applies directly. The output is the same sequence of words as
//! `unicode_segmentation::UnicodeSegmentation::unicode_words` for every input (a property
//! test checks it), so models trained before and after read text identically.
//!
//! How: an all-ASCII text (most documents) goes through the byte scanner whole. Any other
//! text is cut at ASCII whitespace into pieces. An ASCII piece goes through the
//! byte scanner: nothing joins an ASCII letter, digit or sign to the whitespace beside it.
//! A piece holding a non-ASCII byte goes through `unicode_words` together with the
//! whitespace around it and any neighbouring non-ASCII pieces, because a combining mark
//! right after a space joins that space (WB4), which can make the space part of a "word"
//! (`" \u{1e08f}"` is one), and a Unicode space joins an ASCII space (WB3d). Such a
//! stretch begins and ends next to an ASCII piece or at an end of the text, where UAX #29
//! always breaks, so segmenting it on its own gives the same words as the whole text.

use unicode_segmentation::UnicodeSegmentation;

/// Calls `f` with every word of `text`, in order, exactly as
/// `text.unicode_words()` would yield them.
#[inline]
pub(crate) fn for_each_word<'a>(text: &'a str, f: &mut impl FnMut(&'a str)) {
    // Most documents are all ASCII; one vectorised check lets them skip the cutting.
    if text.is_ascii() {
        ascii_words(text, f);
        return;
    }
    let bytes = text.as_bytes();
    let len = bytes.len();
    // Text before `done` has been handed out. Everything between `done` and the piece
    // holding the next byte that needs `unicode_words` is ASCII, typographic marks and
    // whitespace, so one call of the byte scanner covers it: whitespace breaks words in
    // both, and nothing joins across it.
    let mut done = 0;
    while let Some(bad) = next_complex(bytes, done) {
        // The piece holding `bad`, and the whitespace before it.
        let piece = bytes[done..bad]
            .iter()
            .rposition(|&b| is_space(b))
            .map_or(done, |p| done + p + 1);
        let mut from = piece;
        while from > done && is_space(bytes[from - 1]) {
            from -= 1;
        }
        ascii_words(&text[done..from], f);
        // The stretch for `unicode_words` runs to the start of the next piece that does
        // not need it (or the end), taking in the whitespace between.
        let mut end = piece_end(bytes, bad);
        let to = loop {
            let next = end + bytes[end..].iter().take_while(|&&b| is_space(b)).count();
            if next == len {
                break len;
            }
            let next_end = piece_end(bytes, next);
            if next_complex(&bytes[..next_end], next).is_none() {
                break next;
            }
            end = next_end;
        };
        // Cutting next to ASCII bytes always lands on char boundaries.
        for word in text[from..to].unicode_words() {
            f(word);
        }
        done = to;
    }
    ascii_words(&text[done..], f);
}

/// The first byte at or after `from` that is neither ASCII nor part of a
/// [`typographic_mark`]: where the byte scanner's rules stop applying.
#[inline]
fn next_complex(bytes: &[u8], mut from: usize) -> Option<usize> {
    loop {
        // Eight bytes at a time while they are all ASCII.
        while let Some(chunk) = bytes.get(from..from + 8) {
            if u64::from_le_bytes(chunk.try_into().expect("8 bytes")) & 0x8080_8080_8080_8080 != 0 {
                break;
            }
            from += 8;
        }
        let at = from + bytes[from..].iter().position(|&b| b >= 0x80)?;
        match typographic_mark(&bytes[at..]) {
            Some(width) => from = at + width,
            None => return Some(at),
        }
    }
}

/// The end of the piece (run of non-whitespace bytes) holding `at`.
#[inline]
fn piece_end(bytes: &[u8], at: usize) -> usize {
    at + bytes[at..].iter().take_while(|&&b| !is_space(b)).count()
}

/// The width in bytes of a typographic quote, dash, ellipsis or no-break space starting
/// `bytes`, if one does.
///
/// Why these: English news text is ASCII but for these, and one of them in
/// a piece would send it down the slow path. None of them has a combining or joining
/// property, so a piece of ASCII and these alone follows the rules of [`ascii_words`]:
/// `‘` and `’` are MidNumLet (like `.`), the others break like ASCII punctuation.
#[inline]
fn typographic_mark(bytes: &[u8]) -> Option<usize> {
    match bytes {
        // U+00A0 no-break space (not a WSegSpace: it breaks like punctuation)
        [0xC2, 0xA0, ..] => Some(2),
        // U+2013 – U+2014 — U+2018 ‘ U+2019 ’ U+201C “ U+201D ” U+2026 …
        [0xE2, 0x80, 0x93 | 0x94 | 0x98 | 0x99 | 0x9C | 0x9D | 0xA6, ..] => Some(3),
        _ => None,
    }
}

/// ASCII whitespace: space and tab (never joined to a word) and the line breaks (always a
/// boundary, UAX #29 WB3a/WB3b).
#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C)
}

/// The words of a string of ASCII and [`typographic_mark`]s, following the UAX #29 rules that
/// concern them:
/// - letters, digits and `_` join each other (WB5, WB8–WB10, WB13a/b);
/// - `:` (MidLetter) joins two letters (WB6/WB7);
/// - `.`, `'`, `‘` and `’` (MidNumLet, Single_Quote) join two letters or two digits
///   (WB6/WB7, WB11/WB12);
/// - `,` and `;` (MidNum) join two digits (WB11/WB12);
/// - everything else, whitespace included, is a segment of its own. A segment is a word
///   when it holds a letter or a digit (a run of `_` is not).
fn ascii_words<'a>(text: &'a str, f: &mut impl FnMut(&'a str)) {
    let b = text.as_bytes();
    let n = b.len();
    let class = |i: usize| CLASS[usize::from(b[i])];
    let mut i = 0;
    while i < n {
        if class(i) & WORD == 0 {
            i += 1;
            continue;
        }
        let start = i;
        let mut seen = 0u8;
        loop {
            while i < n && class(i) & WORD != 0 {
                seen |= class(i);
                i += 1;
            }
            // A mid character stays inside the word between the right neighbours.
            if i + 3 < n && b[i] == 0xE2 && matches!(b[i + 1..i + 3], [0x80, 0x98 | 0x99]) {
                // ‘ or ’: MidNumLet, three bytes wide. Bytes of non-ASCII characters have
                // class 0, so a neighbour that is one never counts as a letter or digit.
                if class(i - 1) & class(i + 3) & (ALPHA | DIGIT) != 0 {
                    i += 3;
                    continue;
                }
            } else if i + 1 < n {
                let mid = class(i);
                if mid & (MID_LETTER | MID_NUM_LETTER | MID_NUM) != 0 {
                    let both = class(i - 1) & class(i + 1);
                    let joins = (mid & (MID_LETTER | MID_NUM_LETTER) != 0 && both & ALPHA != 0)
                        || (mid & (MID_NUM_LETTER | MID_NUM) != 0 && both & DIGIT != 0);
                    if joins {
                        i += 1;
                        continue;
                    }
                }
            }
            break;
        }
        if seen & (ALPHA | DIGIT) != 0 {
            f(&text[start..i]);
        }
    }
}

const ALPHA: u8 = 1;
const DIGIT: u8 = 2;
/// `_`, ExtendNumLet.
const CONNECTOR: u8 = 4;
const WORD: u8 = ALPHA | DIGIT | CONNECTOR;
/// `:`.
const MID_LETTER: u8 = 8;
/// `.` and `'`.
const MID_NUM_LETTER: u8 = 16;
/// `,` and `;`.
const MID_NUM: u8 = 32;

/// Word-break class of each byte value (0 for everything else, non-ASCII bytes included).
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphabetic() {
            ALPHA
        } else if b.is_ascii_digit() {
            DIGIT
        } else {
            match b {
                b'_' => CONNECTOR,
                b':' => MID_LETTER,
                b'.' | b'\'' => MID_NUM_LETTER,
                b',' | b';' => MID_NUM,
                _ => 0,
            }
        };
        c += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for_each_word(text, &mut |w| out.push(w));
        out
    }

    fn reference(text: &str) -> Vec<&str> {
        text.unicode_words().collect()
    }

    #[test]
    fn ascii_rules_match_uax29_on_the_tricky_cases() {
        for text in [
            "don't stop",
            "e.g. U.S.A. 3.14 1,000,000.50 a.1 1.a",
            "foo:bar 10:30 a::b a..b",
            "__init__ _a a_ __ _ a_1_b",
            "1;2 a;b 1'2 a'b 'quoted' end.",
            "x-ray e-mail http://example.com/a_b?c=d",
            "tab\tsep\r\nline\x0bvt\x0cff",
            "",
            "   ",
            "...,,,;;;'''",
        ] {
            assert_eq!(words(text), reference(text), "{text:?}");
        }
    }

    #[test]
    fn non_ascii_pieces_fall_back_to_unicode_words() {
        for text in [
            "café au lait",
            "naïve résumé",
            "中国外交部 发言人",
            "Straße-Ε.Ε. l'État",
            "a \u{301}b x\u{200d}y 👍🏽 ok",
            // A mark after a space joins it (WB4), and the pair is a "word".
            " \u{1e08f}\u{3000} a",
            // Typographic marks: ’ joins like an apostrophe, the rest break.
            "don’t ‘quoted’ “double” 1’000 a’1 a’’b a’ ’a x—y 1–2 wait…",
            "“The president’s visit” — said’s",
            "no\u{a0}break\u{a0} 1\u{a0}000 a\u{a0}’b",
            "ＵＮＩＴＥＤ nations",
        ] {
            assert_eq!(words(text), reference(text), "{text:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn same_words_as_unicode_words_on_ascii(text in "[a-cA-C0-2_.,;:'\\- \t\n\r!?/‘’“”–—…\u{a0}]{0,40}") {
            prop_assert_eq!(words(&text), reference(&text));
        }

        #[test]
        fn same_words_as_unicode_words_on_mixed_text(
            text in "[a-b0-1_.,:' \t\néß中\u{301}\u{200d}\u{00ad}\u{2019}\u{ff21}\u{1f44d}\u{05d0}\u{0627}\u{1e08f}\u{3000}\u{a0}\u{85}’‘“—…]{0,32}"
        ) {
            prop_assert_eq!(words(&text), reference(&text));
        }

        #[test]
        fn same_words_as_unicode_words_on_any_string(text in any::<String>()) {
            prop_assert_eq!(words(&text), reference(&text));
        }
    }
}
