use proptest::prelude::*;

use super::*;

fn scan_whole(body: &[u8]) -> Result<Scanned, ChunkedError> {
    ChunkedScanner::new().scan(body)
}

#[test]
fn a_body_ends_after_the_last_chunk_and_trailers() {
    let body = b"5\r\nhello\r\n0\r\n\r\nNEXT";
    assert_eq!(
        scan_whole(body),
        Ok(Scanned {
            used: body.len() - 4,
            done: true
        })
    );
    let body = b"3;name=value;flag\r\nabc\r\nA \t; x=\"q\"\r\n0123456789\r\n000\r\nX-Sum: 42\r\nX-Other:a b\r\n\r\n";
    assert_eq!(
        scan_whole(body),
        Ok(Scanned {
            used: body.len(),
            done: true
        })
    );
    let body = b"Ff\r\n";
    assert_eq!(
        scan_whole(body),
        Ok(Scanned {
            used: 4,
            done: false
        })
    );
}

#[test]
fn an_incomplete_body_uses_everything() {
    let mut scanner = ChunkedScanner::new();
    assert_eq!(
        scanner.scan(b"5\r\nhel"),
        Ok(Scanned {
            used: 6,
            done: false
        })
    );
    assert_eq!(
        scanner.scan(b""),
        Ok(Scanned {
            used: 0,
            done: false
        })
    );
    assert_eq!(
        scanner.scan(b"lo\r\n0\r"),
        Ok(Scanned {
            used: 6,
            done: false
        })
    );
    assert_eq!(
        scanner.scan(b"\n\r\nGET"),
        Ok(Scanned {
            used: 3,
            done: true
        })
    );
    // Once done, later bytes are not the body's.
    assert_eq!(
        scanner.scan(b"more"),
        Ok(Scanned {
            used: 0,
            done: true
        })
    );
}

#[test]
fn framing_errors() {
    let long_extension = [b"1;".as_slice(), &[b'x'; MAX_CHUNK_LINE], b"\r\n"].concat();
    let long_trailer = [b"0\r\nX: ".as_slice(), &[b'y'; MAX_CHUNK_LINE], b"\r\n\r\n"].concat();
    let cases: &[(&[u8], ChunkedError)] = &[
        (b"\r\n", ChunkedError::InvalidSize),
        (b"g\r\n", ChunkedError::InvalidSize),
        (b"-1\r\n", ChunkedError::InvalidSize),
        (b"0x5\r\n", ChunkedError::InvalidSize),
        (b" 5\r\n", ChunkedError::InvalidSize),
        (b"5 5\r\n", ChunkedError::InvalidSize),
        (b"10000000000000000\r\n", ChunkedError::SizeOverflow),
        (b"5\nhello\r\n0\r\n\r\n", ChunkedError::MissingCrlf),
        (b"5\r\nhelloX\r\n", ChunkedError::MissingCrlf),
        (b"5\r\nhello\rX", ChunkedError::MissingCrlf),
        (b"5\r\nhello\n0\r\n\r\n", ChunkedError::MissingCrlf),
        (b"0\r\n\n", ChunkedError::InvalidTrailer),
        (b"0\r\n\rX", ChunkedError::MissingCrlf),
        (b"1;a\x00\r\n", ChunkedError::InvalidExtension),
        (b"1;a\nb\r\n", ChunkedError::InvalidExtension),
        (b"0\r\n X: folded\r\n\r\n", ChunkedError::InvalidTrailer),
        (b"0\r\nX Y: z\r\n\r\n", ChunkedError::InvalidTrailer),
        (b"0\r\nNoColon\r\n\r\n", ChunkedError::InvalidTrailer),
        (b"0\r\nX: a\x00\r\n\r\n", ChunkedError::InvalidTrailer),
        (b"0\r\nX: a\nY: b\r\n\r\n", ChunkedError::InvalidTrailer),
        (b"0\r\nX: a\rY\r\n\r\n", ChunkedError::MissingCrlf),
        (&long_extension, ChunkedError::LineTooLong),
        (&long_trailer, ChunkedError::LineTooLong),
    ];
    for (body, err) in cases {
        assert_eq!(scan_whole(body), Err(*err), "{}", body.escape_ascii());
    }
}

#[test]
fn a_huge_chunk_is_followed_without_overflow() {
    let mut scanner = ChunkedScanner::new();
    assert_eq!(
        scanner.scan(b"ffffffffffffffff\r\n"),
        Ok(Scanned {
            used: 18,
            done: false
        })
    );
    assert_eq!(
        scanner.scan(&[0; 1000]),
        Ok(Scanned {
            used: 1000,
            done: false
        })
    );
}

#[test]
fn errors_are_sticky_and_displayed() {
    let mut scanner = ChunkedScanner::new();
    assert_eq!(scanner.scan(b"z"), Err(ChunkedError::InvalidSize));
    assert_eq!(scanner.scan(b"0\r\n\r\n"), Err(ChunkedError::InvalidSize));
    assert_eq!(
        ChunkedError::SizeOverflow.to_string(),
        "chunk size overflows 64 bits"
    );
}

/// A valid chunked body of these chunks and trailers, each chunk size in the case and
/// zero-padding chosen, with an extension on some.
fn encode(chunks: &[Vec<u8>], trailers: &[(String, String)], upper: bool, pad: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let size = if upper {
            format!("{:0pad$X}", chunk.len())
        } else {
            format!("{:0pad$x}", chunk.len())
        };
        body.extend_from_slice(size.as_bytes());
        if i % 2 == 1 {
            body.extend_from_slice(b" ;ext=\"v\"");
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n");
    for (name, value) in trailers {
        body.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    body
}

proptest! {
    #[test]
    fn valid_bodies_split_anywhere_end_exactly(
        chunks in proptest::collection::vec(proptest::collection::vec(1u8..=255, 1..300), 0..8),
        trailers in proptest::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,10}", "[ -~]{0,20}"), 0..3),
        upper in any::<bool>(),
        pad in 0usize..4,
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..12),
        tail in proptest::collection::vec(any::<u8>(), 0..20),
    ) {
        let body = encode(&chunks, &trailers, upper, pad);
        let mut stream = body.clone();
        stream.extend_from_slice(&tail);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        cuts.push(stream.len());
        cuts.sort_unstable();
        let mut scanner = ChunkedScanner::new();
        let mut start = 0;
        let mut end_found = None;
        for cut in cuts {
            let scanned = scanner.scan(&stream[start..cut]).unwrap();
            if scanned.done {
                end_found = Some(start + scanned.used);
                break;
            }
            prop_assert_eq!(scanned.used, cut - start);
            start = cut;
        }
        prop_assert_eq!(end_found, Some(body.len()));
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), split in 0usize..200) {
        let split = split.min(bytes.len());
        let mut scanner = ChunkedScanner::new();
        if let Ok(first) = scanner.scan(&bytes[..split]) {
            if !first.done {
                let _ = scanner.scan(&bytes[split..]);
            }
        }
    }
}
