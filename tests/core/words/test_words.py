def test_with_answer_puts_the_texts_word_first_or_last_and_each_word_once():
    from explorer.words.pieces import WordCandidate, WordPredictions

    a, b, z = (WordCandidate(w, -i, (i,)) for i, w in enumerate("abz", start=1))
    found = WordPredictions([a, b], answer=b)
    assert [w.word for w in found.with_answer()] == ["b", "a"]
    assert [w.word for w in found.with_answer(answer_first=False)] == ["a", "b"]
    assert [w.word for w in WordPredictions([a], answer=z).with_answer(answer_first=False)] == ["a", "z"]
    assert [w.word for w in WordPredictions([a, b]).with_answer()] == ["a", "b"]
