"""Ask keeps the model's answer to what the retrieved passages say (docpipe.logic.ask.grounded_answer)."""

from docpipe.faithfulness import keep_faithful
from docpipe.logic.ask import grounded_answer

PASSAGES = [
    "Condition ratings. Deck: 5 (fair), previously 6. Night lane closures run from 6 to 17 October 2025.",
    "Replacing the four bearings at Pier 2 is estimated at $1,350,000. Inspection date: 2025-09-19.",
]


def test_sentences_with_invented_figures_are_dropped_and_supported_ones_kept():
    answer = ("The deck is rated 5 (fair), previously 6. Repainting the arch ribs costs $9,098,000. "
              "Lane closures run from 6 to 17 October 2025.")
    grounded, dropped, extractive = grounded_answer(answer, PASSAGES, "What are the ratings?")
    assert grounded == "The deck is rated 5 (fair), previously 6. Lane closures run from 6 to 17 October 2025."
    assert (dropped, extractive) == (1, False)


def test_numbers_count_whole_and_dates_by_their_parts():
    # "20" is not in the source even though "2025" contains those digits; "19" is a part of 2025-09-19
    assert grounded_answer("Closures start on October 20.", PASSAGES, "When?")[1] == 1
    assert grounded_answer("The inspection ended on the 19th, in 2025.", PASSAGES, "When?")[1] == 0
    # a group of a grouped number is not the number: "350" is not "$1,350,000"
    assert grounded_answer("It costs 350 thousand.", PASSAGES, "Cost?")[1] == 1


def test_with_nothing_supported_the_best_passage_sentence_answers():
    grounded, dropped, extractive = grounded_answer(
        "The lane closures will happen on September 20, 2027.", PASSAGES, "When will the lane closures happen?")
    assert extractive and dropped == 1
    assert grounded == "Night lane closures run from 6 to 17 October 2025."
    # from whichever passage says it best, not only the closest one
    closest_first = ["The lane has since reopened. Traffic is normal.", *PASSAGES]
    assert grounded_answer("On September 20, 2027.", closest_first, "When will the lane closures happen?")[0] == \
        "Night lane closures run from 6 to 17 October 2025."


def test_summaries_keep_their_extractive_fallback():
    source = " ".join(["The bridge deck was resurfaced in 2021 after the winter storms damaged it badly."] * 3)
    text, dropped, extractive = keep_faithful("It was built by Zorgon Industries.", source, fallback_sentences=1)
    assert extractive and dropped == 1 and text.startswith("The bridge deck was resurfaced in 2021")
