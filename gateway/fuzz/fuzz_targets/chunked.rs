//! Fuzzes `ChunkedScanner`: the input fed in pieces must scan exactly as fed whole.
#![no_main]

use gateway::http1::chunked::ChunkedScanner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte seeds the piece sizes; the rest is the body.
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    let whole = ChunkedScanner::new().scan(body);

    let mut scanner = ChunkedScanner::new();
    let mut offset = 0;
    let mut state = u32::from(seed) | 1;
    let split = loop {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let piece = (state % 64) as usize;
        let end = (offset + piece).min(body.len());
        match scanner.scan(&body[offset..end]) {
            Err(err) => break Err(err),
            Ok(scanned) if scanned.done => {
                break Ok((offset + scanned.used, true));
            }
            Ok(scanned) => {
                assert_eq!(scanned.used, end - offset);
                offset = end;
                if offset == body.len() {
                    break Ok((offset, false));
                }
            }
        }
    };
    match (whole, split) {
        (Ok(whole), Ok((used, done))) => assert_eq!((whole.used, whole.done), (used, done)),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (whole, split) => panic!("whole {whole:?} against split {split:?}"),
    }
});
