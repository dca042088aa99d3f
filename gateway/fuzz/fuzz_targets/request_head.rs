//! Fuzzes `ParsedRequest::parse` and the view of every lean head, on whole inputs and prefixes.
#![no_main]

use gateway::http1::request::{HeadStatus, ParsedRequest};
use gateway::proxy::head::RequestHead;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first two bytes pick the head-size limit; the rest is what the client sent.
    let Some((limit, buf)) = data.split_first_chunk::<2>() else {
        return;
    };
    let max_head_bytes = usize::from(u16::from_le_bytes(*limit)).max(1);
    let mut parsed = ParsedRequest::new();
    let status = parsed.parse(buf, max_head_bytes);
    if status != HeadStatus::Lean {
        return;
    }
    let head_len = parsed.head_len();
    assert!(head_len <= buf.len() && head_len <= max_head_bytes);
    let view = parsed.view(buf);
    assert!(view.path().starts_with(b"/"));
    assert!(view.target().starts_with(view.path()));
    assert!(view.method_str().len() == view.method().len() && !view.method().is_empty());
    assert!(view.target_authority().is_none());
    assert_eq!(view.headers().filter(|(n, _)| n.eq_ignore_ascii_case(b"host")).count(), 1);
    assert!(parsed.content_length() <= gateway::http1::request::MAX_LEAN_BODY);
    let _ = (view.query(), view.host(), parsed.wants_close(), parsed.is_head_method());
    // Every prefix of a lean head is incomplete (checked at a few cuts).
    for cut in [head_len - 1, head_len / 2, head_len / 3] {
        assert_eq!(ParsedRequest::new().parse(&buf[..cut], max_head_bytes), HeadStatus::Partial);
    }
});
