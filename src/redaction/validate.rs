//! Checksums and number rules that turn "looks like" into "is".
//!
//! A detector proposes a candidate by shape; these functions decide. They are
//! what keeps order numbers, timestamps and other benign digit runs intact.

/// Luhn (mod 10) check over the ASCII digits of `s`; other bytes are ignored.
pub(crate) fn luhn(s: &[u8]) -> bool {
    let mut sum: u32 = 0;
    let mut double = false;
    let mut n = 0usize;
    for &b in s.iter().rev() {
        if !b.is_ascii_digit() {
            continue;
        }
        let mut d = u32::from(b - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
        n += 1;
    }
    n > 0 && sum.is_multiple_of(10)
}

/// Whether a card number (its digits) falls in an issuer's IIN range for
/// its length. Real issuers use a handful of prefix/length combinations;
/// rejecting the rest removes most Luhn coincidences on timestamps and ids.
/// Twelve digits are only Maestro, so a random Luhn-valid 12-digit number
/// is not a card.
pub(crate) fn card_iin_fits(d: &[u8]) -> bool {
    let len = d.len();
    let p = |k: usize| -> u32 {
        d.iter()
            .take(k)
            .fold(0u32, |a, &b| a * 10 + u32::from(b.wrapping_sub(b'0')))
    };
    let (p1, p2, p3, p4, p6) = (p(1), p(2), p(3), p(4), p(6));
    let maestro = matches!(
        p4,
        5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763 | 6390
    ) || p2 == 50
        || (56..=58).contains(&p2);
    match len {
        12 => matches!(
            p4,
            5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763 | 6390
        ),
        13 => p1 == 4 || maestro,
        14 => matches!(p2, 36 | 38 | 39) || (300..=305).contains(&p3) || maestro,
        15 => matches!(p2, 34 | 37) || matches!(p4, 2131 | 1800) || p1 == 1 || maestro,
        16..=19 => {
            let visa = p1 == 4;
            let mastercard = (51..=55).contains(&p2) || (2221..=2720).contains(&p4);
            let mir = (2200..=2204).contains(&p4);
            let jcb = (3528..=3589).contains(&p4);
            let diners = (300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39);
            let discover = p4 == 6011
                || (644..=649).contains(&p3)
                || p2 == 65
                || (622_126..=622_925).contains(&p6);
            let unionpay = p2 == 62 || p2 == 81 || p2 == 60;
            let rupay = matches!(p2, 82) || matches!(p3, 508 | 353 | 356);
            let other = matches!(p3, 636..=639)
                || p4 == 9792
                || p4 == 6334
                || p4 == 6767
                || p4 == 6706
                || p4 == 6771
                || p4 == 6709;
            (len == 16 && (visa || mastercard))
                || (len == 19 && visa)
                || (len == 18 && visa && p4 == 4903)
                || mir
                || jcb
                || (diners && len >= 16)
                || discover
                || unionpay
                || rupay
                || maestro
                || other
        }
        _ => false,
    }
}

/// US SSN rules over the nine digits: area not 000, 666 or 9xx; group not
/// 00; serial not 0000; and not one of the well-known published examples.
pub(crate) fn ssn_valid(d: &[u8; 9]) -> bool {
    let area = &d[0..3];
    let group = &d[3..5];
    let serial = &d[5..9];
    if area == b"000" || area == b"666" || area[0] == b'9' {
        return false;
    }
    if group == b"00" || serial == b"0000" {
        return false;
    }
    if d.iter().all(|&b| b == d[0]) {
        return false;
    }
    // The Woolworth wallet card and the 1960s advertising number. (`123-45-6789`
    // is redacted: in model output it usually stands for a real one.)
    !matches!(d, b"078051120" | b"219099999")
}

/// IBAN length by country code (ISO 13616 registry).
pub(crate) fn iban_length(country: &[u8]) -> Option<usize> {
    let len = match country {
        b"AD" => 24,
        b"AE" => 23,
        b"AL" => 28,
        b"AT" => 20,
        b"AZ" => 28,
        b"BA" => 20,
        b"BE" => 16,
        b"BG" => 22,
        b"BH" => 22,
        b"BI" => 27,
        b"BR" => 29,
        b"BY" => 28,
        b"CH" => 21,
        b"CR" => 22,
        b"CY" => 28,
        b"CZ" => 24,
        b"DE" => 22,
        b"DJ" => 27,
        b"DK" => 18,
        b"DO" => 28,
        b"EE" => 20,
        b"EG" => 29,
        b"ES" => 24,
        b"FI" => 18,
        b"FK" => 18,
        b"FO" => 18,
        b"FR" => 27,
        b"GB" => 22,
        b"GE" => 22,
        b"GI" => 23,
        b"GL" => 18,
        b"GR" => 27,
        b"GT" => 28,
        b"HN" => 28,
        b"HR" => 21,
        b"HU" => 28,
        b"IE" => 22,
        b"IL" => 23,
        b"IQ" => 23,
        b"IS" => 26,
        b"IT" => 27,
        b"JO" => 30,
        b"KW" => 30,
        b"KZ" => 20,
        b"LB" => 28,
        b"LC" => 32,
        b"LI" => 21,
        b"LT" => 20,
        b"LU" => 20,
        b"LV" => 21,
        b"LY" => 25,
        b"MC" => 27,
        b"MD" => 24,
        b"ME" => 22,
        b"MK" => 19,
        b"MN" => 20,
        b"MR" => 27,
        b"MT" => 31,
        b"MU" => 30,
        b"NI" => 28,
        b"NL" => 18,
        b"NO" => 15,
        b"OM" => 23,
        b"PK" => 24,
        b"PL" => 28,
        b"PS" => 29,
        b"PT" => 25,
        b"QA" => 29,
        b"RO" => 24,
        b"RS" => 22,
        b"RU" => 33,
        b"SA" => 24,
        b"SC" => 31,
        b"SD" => 18,
        b"SE" => 24,
        b"SI" => 19,
        b"SK" => 24,
        b"SM" => 27,
        b"SO" => 23,
        b"ST" => 25,
        b"SV" => 28,
        b"TL" => 23,
        b"TN" => 24,
        b"TR" => 26,
        b"UA" => 29,
        b"VA" => 22,
        b"VG" => 24,
        b"XK" => 20,
        b"YE" => 30,
        _ => return None,
    };
    Some(len)
}

/// ISO 7064 mod 97-10 over an IBAN given as uppercase alphanumerics without separators.
pub(crate) fn iban_checksum_ok(iban: &[u8]) -> bool {
    if iban.len() < 5 {
        return false;
    }
    let (head, tail) = iban.split_at(4);
    let mut rem: u32 = 0;
    for &b in tail.iter().chain(head.iter()) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_one_digit_off() {
        for ok in [
            "4111111111111111",
            "4012-8888-8888-1881",
            "371449635398431",
            "5555 5555 5555 4444",
        ] {
            assert!(luhn(ok.as_bytes()), "{ok}");
        }
        for bad in ["4111111111111112", "4012-8888-8888-1882", "36168002586008"] {
            assert!(!luhn(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn iin_ranges_reject_timestamps_and_random_twelve_digit_numbers() {
        assert!(!card_iin_fits(b"1700000000003"));
        assert!(card_iin_fits(b"180012345678901")); // JCB legacy, 15
        assert!(card_iin_fits(b"213112345678901")); // JCB legacy, 15
        assert!(card_iin_fits(b"4111111111111111"));
        assert!(card_iin_fits(b"630412345678")); // Maestro, 12
        assert!(card_iin_fits(b"501812345678")); // Maestro, 12
        assert!(!card_iin_fits(b"412345678903")); // random 12 digits
        assert!(card_iin_fits(b"6200000000000005")); // UnionPay
        assert!(card_iin_fits(b"2200123412341234")); // Mir
        assert!(!card_iin_fits(b"9111111111111111"));
    }

    #[test]
    fn ssn_rules_exclude_invalid_areas_groups_and_serials() {
        let cases: &[(&[u8; 9], bool)] = &[
            (b"078051123", true),
            (b"000123456", false),
            (b"666123456", false),
            (b"900123456", false),
            (b"123004567", false),
            (b"123450000", false),
            (b"078051120", false),
            (b"111111111", false),
        ];
        for (d, want) in cases {
            assert_eq!(ssn_valid(d), *want, "{}", String::from_utf8_lossy(*d));
        }
    }

    #[test]
    fn iban_mod97_accepts_valid_and_rejects_altered() {
        assert!(iban_checksum_ok(b"DE89370400440532013000"));
        assert!(iban_checksum_ok(b"GB82WEST12345698765432"));
        assert!(!iban_checksum_ok(b"DE89370400440532013001"));
        assert!(!iban_checksum_ok(b"GB82WEST12345698765433"));
        assert_eq!(iban_length(b"DE"), Some(22));
        assert_eq!(iban_length(b"ZZ"), None);
    }
}
