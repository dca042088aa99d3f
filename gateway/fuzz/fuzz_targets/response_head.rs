//! Fuzzes `ParsedResponse::parse` and every accessor of a complete head.
#![no_main]

use gateway::http1::response::{ParsedResponse, ResponseStatus};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((limit, buf)) = data.split_first_chunk::<2>() else {
        return;
    };
    let max_head_bytes = usize::from(u16::from_le_bytes(*limit)).max(1);
    let mut parsed = ParsedResponse::new();
    if parsed.parse(buf, max_head_bytes) != ResponseStatus::Complete {
        return;
    }
    assert!(parsed.head_len() <= buf.len() && parsed.head_len() <= max_head_bytes);
    assert!((100..=999).contains(&parsed.status()));
    let _ = (parsed.body(true), parsed.body(false), parsed.server_keeps_alive());
    let _ = parsed.reason(buf);
    assert!(parsed.headers(buf).all(|(name, _)| !name.is_empty()));
    let cut = parsed.head_len() - 1;
    assert_eq!(ParsedResponse::new().parse(&buf[..cut], max_head_bytes), ResponseStatus::Partial);
});
