"""Language codes: Translate's (ISO 639-1, with region where it matters) and Polly's (BCP 47 locale)."""

POLLY_LOCALES = {"en": "en-US", "es": "es-ES", "ca": "ca-ES", "fr": "fr-FR", "de": "de-DE", "it": "it-IT",
                 "pt": "pt-BR", "pt-PT": "pt-PT", "ro": "ro-RO", "nl": "nl-NL", "da": "da-DK", "sv": "sv-SE",
                 "nb": "nb-NO", "pl": "pl-PL", "is": "is-IS", "cy": "cy-GB", "ja": "ja-JP", "ko": "ko-KR",
                 "cmn": "cmn-CN", "ar": "arb", "tr": "tr-TR", "ru": "ru-RU", "hi": "hi-IN", "fi": "fi-FI"}


def polly_locale(language: str) -> str | None:
    return POLLY_LOCALES.get(language) or POLLY_LOCALES.get(language.split("-")[0])
