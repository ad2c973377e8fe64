//! Avro's binary encoding, written from the specification
//! (<https://avro.apache.org/docs/1.11.1/specification/#binary-encoding>) so that the
//! tests' records do not come from the library weir decodes them with.

/// `int` and `long`: zig-zag, then a variable-length integer.
pub fn long(out: &mut Vec<u8>, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    while zigzag >= 0x80 {
        out.push((zigzag as u8) | 0x80);
        zigzag >>= 7;
    }
    out.push(zigzag as u8);
}

/// `string` and `bytes`: the length, then the bytes.
pub fn string(out: &mut Vec<u8>, value: &str) {
    long(out, value.len() as i64);
    out.extend_from_slice(value.as_bytes());
}

/// `double`: eight bytes, little-endian.
pub fn double(out: &mut Vec<u8>, value: f64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// An array of `items`, each written by `write`: one block with the count, then the end.
pub fn array<T>(out: &mut Vec<u8>, items: &[T], write: impl Fn(&mut Vec<u8>, &T)) {
    if !items.is_empty() {
        long(out, items.len() as i64);
        for item in items {
            write(out, item);
        }
    }
    long(out, 0);
}

/// A value in the schema registry's wire format: a zero byte, the id, the body.
pub fn framed(id: u32, body: &[u8]) -> Vec<u8> {
    let mut value = vec![0];
    value.extend_from_slice(&id.to_be_bytes());
    value.extend_from_slice(body);
    value
}
