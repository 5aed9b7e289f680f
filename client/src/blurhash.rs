//! BlurHash: a 20–30 character picture of an image's colours, shown while the image loads.
//!
//! Element writes it into media info as `xyz.amorgan.blurhash` (MSC2448) and shows it as the
//! placeholder, so we both write and read it. The format is the one from blurha.sh: a base-83
//! string holding the DC colour and a few AC cosine components.

use std::f32::consts::PI;

const DIGITS: &[u8; 83] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

fn encode83(value: u32, length: u32, out: &mut String) {
    for i in 1..=length {
        let digit = (value / 83u32.pow(length - i)) % 83;
        out.push(char::from(DIGITS[digit as usize]));
    }
}

fn decode83(text: &str) -> Option<u32> {
    text.bytes().try_fold(0u32, |value, byte| {
        let digit = DIGITS.iter().position(|&d| d == byte)?;
        value.checked_mul(83)?.checked_add(digit as u32)
    })
}

fn srgb_to_linear(value: u8) -> f32 {
    let v = f32::from(value) / 255.0;
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(value: f32) -> u8 {
    let v = value.clamp(0.0, 1.0);
    let s = if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    };
    (s * 255.0 + 0.5) as u8
}

/// Cosine without libm's general argument reduction (about 5 KB of wasm): the arguments
/// here are between 0 and 9π, and a placeholder needs no more than single precision.
fn cos(x: f32) -> f32 {
    let tau = 2.0 * PI;
    let mut x = (x - tau * (x / tau).round()).abs();
    // cos(x) = -cos(π - x) keeps the series on [0, π/2], where it converges fast.
    let sign = if x > PI / 2.0 {
        x = PI - x;
        -1.0
    } else {
        1.0
    };
    let x2 = x * x;
    let series = 1.0
        - x2 / 2.0 * (1.0 - x2 / 12.0 * (1.0 - x2 / 30.0 * (1.0 - x2 / 56.0 * (1.0 - x2 / 90.0))));
    sign * series
}

fn sign_pow(value: f32, exp: f32) -> f32 {
    value.abs().powf(exp).copysign(value)
}

/// Encodes `rgba` pixels (`width` × `height`, 4 bytes each) with `x` × `y` components (1–9
/// each; 4 × 3 is what Element uses). `None` if the sizes don't add up.
pub fn encode(rgba: &[u8], width: usize, height: usize, x: usize, y: usize) -> Option<String> {
    if !(1..=9).contains(&x) || !(1..=9).contains(&y) || width == 0 || height == 0 {
        return None;
    }
    if rgba.len() != width * height * 4 {
        return None;
    }
    let linear: Vec<[f32; 3]> = rgba
        .chunks_exact(4)
        .map(|p| {
            [
                srgb_to_linear(p[0]),
                srgb_to_linear(p[1]),
                srgb_to_linear(p[2]),
            ]
        })
        .collect();
    let mut factors = Vec::with_capacity(x * y);
    for j in 0..y {
        for i in 0..x {
            let norm = if i == 0 && j == 0 { 1.0 } else { 2.0 };
            let mut sum = [0.0f32; 3];
            for py in 0..height {
                let by = cos(PI * j as f32 * py as f32 / height as f32);
                for px in 0..width {
                    let basis = by * cos(PI * i as f32 * px as f32 / width as f32);
                    let pixel = linear[py * width + px];
                    for c in 0..3 {
                        sum[c] += basis * pixel[c];
                    }
                }
            }
            let scale = norm / (width * height) as f32;
            factors.push(sum.map(|s| s * scale));
        }
    }
    let (dc, ac) = factors.split_first()?;
    let mut out = String::with_capacity(4 + 2 * ac.len());
    encode83(((x - 1) + (y - 1) * 9) as u32, 1, &mut out);
    let max_ac = ac.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
    let (quantised_max, max_value) = if ac.is_empty() {
        (0, 1.0)
    } else {
        let q = ((max_ac * 166.0 - 0.5).floor() as i32).clamp(0, 82) as u32;
        (q, (q as f32 + 1.0) / 166.0)
    };
    encode83(quantised_max, 1, &mut out);
    let dc_value = dc.map(|c| u32::from(linear_to_srgb(c)));
    encode83(
        (dc_value[0] << 16) + (dc_value[1] << 8) + dc_value[2],
        4,
        &mut out,
    );
    for component in ac {
        let q = component.map(|c| {
            ((sign_pow(c / max_value, 0.5) * 9.0 + 9.5).floor() as i32).clamp(0, 18) as u32
        });
        encode83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2, &mut out);
    }
    Some(out)
}

/// Decodes `hash` into `width` × `height` RGBA pixels; `None` if it is not a valid hash.
pub fn decode(hash: &str, width: usize, height: usize) -> Option<Vec<u8>> {
    if !hash.is_ascii() || hash.len() < 6 || width == 0 || height == 0 || width * height > 1 << 16 {
        return None;
    }
    let size = decode83(&hash[..1])? as usize;
    let (x, y) = (size % 9 + 1, size / 9 + 1);
    if hash.len() != 4 + 2 * x * y {
        return None;
    }
    let max_value = (decode83(&hash[1..2])? as f32 + 1.0) / 166.0;
    let mut colours = Vec::with_capacity(x * y);
    let dc = decode83(&hash[2..6])?;
    colours.push([dc >> 16, (dc >> 8) & 255, dc & 255].map(|c| srgb_to_linear(c as u8)));
    for i in 1..x * y {
        let value = decode83(&hash[4 + i * 2..6 + i * 2])?;
        let q = [value / (19 * 19), (value / 19) % 19, value % 19];
        colours.push(q.map(|q| sign_pow((q as f32 - 9.0) / 9.0, 2.0) * max_value));
    }
    let mut out = Vec::with_capacity(width * height * 4);
    for py in 0..height {
        for px in 0..width {
            let mut pixel = [0.0f32; 3];
            for j in 0..y {
                let by = cos(PI * py as f32 * j as f32 / height as f32);
                for i in 0..x {
                    let basis = by * cos(PI * px as f32 * i as f32 / width as f32);
                    let colour = colours[i + j * x];
                    for c in 0..3 {
                        pixel[c] += colour[c] * basis;
                    }
                }
            }
            out.extend(pixel.map(linear_to_srgb));
            out.push(255);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 32 × 32 picture: red on the left, blue on the right.
    fn split_image() -> Vec<u8> {
        (0..32 * 32)
            .flat_map(|i| {
                if i % 32 < 16 {
                    [220, 30, 30, 255]
                } else {
                    [30, 30, 220, 255]
                }
            })
            .collect()
    }

    #[test]
    fn cosine_is_accurate_enough() {
        for step in 0..=900 {
            let x = step as f32 * 9.0 * PI / 900.0;
            assert!((cos(x) - x.cos()).abs() < 1e-4, "cos({x})");
        }
    }

    #[test]
    fn base83_round_trips() {
        let mut out = String::new();
        encode83(123_456, 4, &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(decode83(&out), Some(123_456));
        assert_eq!(decode83("é"), None);
    }

    #[test]
    fn a_known_hash_decodes_to_its_colours() {
        // The example from blurha.sh: a warm, dark photo.
        let hash = "LEHV6nWB2yk8pyo0adR*.7kCMdnj";
        let pixels = decode(hash, 4, 3).unwrap();
        assert_eq!(pixels.len(), 4 * 3 * 4);
        let dc = decode83(&hash[2..6]).unwrap();
        let average: Vec<u32> = (0..3)
            .map(|c| pixels.chunks(4).map(|p| u32::from(p[c])).sum::<u32>() / 12)
            .collect();
        for (c, shift) in [16, 8, 0].into_iter().enumerate() {
            let expected = (dc >> shift) & 255;
            assert!(
                average[c].abs_diff(expected) < 40,
                "channel {c}: {average:?} vs {expected}"
            );
        }
    }

    #[test]
    fn encoding_keeps_the_layout_of_colours() {
        let hash = encode(&split_image(), 32, 32, 4, 3).unwrap();
        assert_eq!(hash.len(), 4 + 2 * 4 * 3);
        let pixels = decode(&hash, 8, 1).unwrap();
        let (left, right) = (&pixels[..4], &pixels[7 * 4..]);
        assert!(left[0] > 150 && left[2] < 100, "left is red: {left:?}");
        assert!(right[2] > 150 && right[0] < 100, "right is blue: {right:?}");
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(encode(&[0; 8], 3, 1, 4, 3), None);
        assert_eq!(encode(&[0; 4], 1, 1, 10, 1), None);
        assert_eq!(
            decode("LEHV6n", 4, 4),
            None,
            "length does not match the size flag"
        );
        assert_eq!(decode("LEHV6nWB2yk8pyo0adR*.7kCMdn\u{e9}", 4, 4), None);
        assert_eq!(decode("", 4, 4), None);
        assert_eq!(
            decode("00000000", 100_000, 100_000),
            None,
            "too many pixels"
        );
    }
}
