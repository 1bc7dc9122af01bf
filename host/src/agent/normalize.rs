//! The request key a saved clam is found by: two requests that differ only in
//! Unicode form, case, punctuation or spacing are the same request.

use unicode_normalization::UnicodeNormalization;

/// NFKC, lowercase, punctuation and symbols to spaces, whitespace collapsed.
pub fn normalize_request(text: &str) -> String {
    let folded: String = text
        .nfkc()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::normalize_request;

    #[test]
    fn folds_form_case_punctuation_and_space() {
        assert_eq!(
            normalize_request("  What's the BTC   price?! "),
            "what s the btc price"
        );
        // Fullwidth letters and digits are NFKC-equivalent to ASCII.
        assert_eq!(normalize_request("ＢＴＣ　２０２６"), "btc 2026");
        assert_eq!(normalize_request("Ça   va"), "ça va");
        assert_eq!(normalize_request("!!!"), "");
        assert_eq!(normalize_request(""), "");
    }

    #[test]
    fn different_words_stay_different() {
        assert_ne!(
            normalize_request("price of btc"),
            normalize_request("price of eth")
        );
    }
}
