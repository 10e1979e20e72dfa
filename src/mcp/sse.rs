//! Server-sent events, split into whole events so each JSON-RPC message
//! can be parsed and rewritten once, however the bytes were chunked.

/// Most bytes held for one unfinished event; past that the event is
/// dropped and counted (a server cannot make the filter hold unbounded text).
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// Collects chunks and yields complete events (without their blank line).
#[derive(Debug, Default)]
pub struct EventSplitter {
    buf: Vec<u8>,
    /// Events dropped for being too large.
    pub dropped: u32,
}

/// Byte offset just past the first blank line (`\n\n`, `\r\n\r\n` or
/// `\r\r`) and the offset where it starts.
fn blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        match buf.get(i..) {
            Some([b'\n', b'\n', ..]) => return Some((i, i + 2)),
            Some([b'\r', b'\n', b'\r', b'\n', ..]) => return Some((i, i + 4)),
            Some([b'\n', b'\r', b'\n', ..]) => return Some((i, i + 3)),
            Some([b'\r', b'\r', ..]) => return Some((i, i + 2)),
            _ => {}
        }
        i += 1;
    }
    None
}

impl EventSplitter {
    /// Adds a chunk; returns the events it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        // Look only at the tail that can still end an event.
        let start = self.buf.len().saturating_sub(3);
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut from = 0usize;
        let mut scan = start;
        while let Some((end, next)) = self.buf.get(scan..).and_then(blank_line) {
            let (end, next) = (scan + end, scan + next);
            events.push(self.buf.get(from..end).unwrap_or_default().to_vec());
            from = next;
            scan = next;
        }
        self.buf.drain(..from.min(self.buf.len()));
        if self.buf.len() > MAX_EVENT_BYTES {
            self.buf.clear();
            self.dropped = self.dropped.saturating_add(1);
        }
        events
    }

    /// What is left at end of stream (an event without its blank line).
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.buf);
        (!rest.iter().all(u8::is_ascii_whitespace)).then_some(rest)
    }
}

/// The `data` of an event (lines joined by `\n`), or `None` without data.
pub fn event_data(event: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(event).ok()?;
    let mut data: Option<String> = None;
    for line in text.split(['\n']) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let value = if line == "data" {
            Some("")
        } else {
            line.strip_prefix("data:")
                .map(|v| v.strip_prefix(' ').unwrap_or(v))
        };
        if let Some(v) = value {
            match data.as_mut() {
                Some(d) => {
                    d.push('\n');
                    d.push_str(v);
                }
                None => data = Some(v.to_string()),
            }
        }
    }
    data
}

/// The event with its data replaced by `data` (one line), other fields kept,
/// followed by the blank line that ends it.
pub fn with_data(event: &[u8], data: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(event);
    let mut out = String::with_capacity(event.len() + data.len());
    let mut placed = false;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line == "data" || line.starts_with("data:") {
            if !placed {
                out.push_str("data: ");
                out.push_str(data);
                out.push('\n');
                placed = true;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !placed {
        out.push_str("data: ");
        out.push_str(data);
        out.push('\n');
    }
    out.push('\n');
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_across_any_chunking() {
        let body = b"event: message\ndata: {\"a\":1}\n\nid: 7\ndata: {\"b\":\ndata: 2}\r\n\r\n";
        for size in 1..body.len() {
            let mut s = EventSplitter::default();
            let mut events = Vec::new();
            for piece in body.chunks(size) {
                events.extend(s.push(piece));
            }
            assert_eq!(events.len(), 2, "chunk size {size}");
            assert_eq!(event_data(&events[0]).unwrap(), "{\"a\":1}");
            assert_eq!(event_data(&events[1]).unwrap(), "{\"b\":\n2}");
            assert!(s.finish().is_none());
        }
    }

    #[test]
    fn rewritten_event_keeps_its_other_fields() {
        let out = with_data(b"event: message\nid: 3\ndata: {\"x\":1}", "{\"y\":2}");
        assert_eq!(out, b"event: message\nid: 3\ndata: {\"y\":2}\n\n");
    }

    #[test]
    fn an_unfinished_event_is_returned_at_the_end() {
        let mut s = EventSplitter::default();
        assert!(s.push(b"data: {}").is_empty());
        assert_eq!(s.finish().unwrap(), b"data: {}");
    }

    #[test]
    fn oversized_events_are_dropped_and_counted() {
        let mut s = EventSplitter::default();
        s.push(b"data: ");
        s.push(&vec![b'x'; MAX_EVENT_BYTES + 1]);
        assert_eq!(s.dropped, 1);
        assert!(s.finish().is_none());
    }
}
