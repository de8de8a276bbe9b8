import pytest

from memorag_integrations.text import chunk_text, regex_offsets


def test_chunks_are_exact_slices_and_cover_every_token():
    text = "Alpha beta gamma.  Delta epsilon.\n\nZeta eta theta iota. Kappa lambda mu nu xi omicron pi."
    spans = chunk_text(text, regex_offsets, max_tokens=5, overlap=0)
    words = [text[s:e] for s, e in regex_offsets(text)]
    covered = [w for s, e in spans for w in text[s:e].split()]
    assert covered == words
    for s, e in spans:
        assert len(regex_offsets(text[s:e])) <= 5
        assert text[s:e] == text[s:e].strip()


def test_prefers_paragraph_then_sentence_boundaries():
    text = "one two three four\n\nfive six seven eight nine ten"
    spans = chunk_text(text, regex_offsets, max_tokens=6)
    assert text[spans[0][0]:spans[0][1]] == "one two three four"
    text = "a b c d. e f g h i j k l"
    spans = chunk_text(text, regex_offsets, max_tokens=6)
    assert text[spans[0][0]:spans[0][1]] == "a b c d."


def test_overlap_repeats_tokens():
    text = " ".join(f"w{i}" for i in range(20))
    spans = chunk_text(text, regex_offsets, max_tokens=8, overlap=3)
    first, second = text[slice(*spans[0])].split(), text[slice(*spans[1])].split()
    assert first[-3:] == second[:3]


def test_cjk_text_with_a_character_tokenizer():
    text = "第一句话。第二句话。第三句话。"
    offsets = [(i, i + 1) for i in range(len(text))]
    spans = chunk_text(text, lambda t: offsets, max_tokens=7)
    assert [text[s:e] for s, e in spans] == ["第一句话。", "第二句话。", "第三句话。"]


def test_invalid_sizes_raise():
    with pytest.raises(ValueError):
        chunk_text("x", regex_offsets, max_tokens=0)
    with pytest.raises(ValueError):
        chunk_text("x", regex_offsets, max_tokens=4, overlap=4)


def test_empty_text_has_no_chunks():
    assert chunk_text("   \n ", regex_offsets, max_tokens=4) == []
