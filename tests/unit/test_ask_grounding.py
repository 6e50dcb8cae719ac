"""Ask keeps the model's answer to what the retrieved passages say (docpipe.logic.ask_grounding), and summaries
keep to their source (docpipe.faithfulness)."""

from docpipe.faithfulness import figures, keep_faithful
from docpipe.logic.ask_grounding import best_quote, grounded_answer, sentence_spans, terms

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


def test_a_figure_of_the_other_kind_is_not_in_the_source():
    source = "The bridge carries 31,400 vehicles a day, of which 6 percent are trucks. A 15% contingency is included."
    assert keep_faithful("About 6 percent are trucks. The contingency is 15 percent.", source)[1] == 0
    assert keep_faithful("The bridge carries 31,400 vehicles. Only 6 vehicles are trucks.", source)[:2] == (
        "The bridge carries 31,400 vehicles.", 1)


def test_a_spelled_out_number_must_be_in_the_source_either_way():
    source = "All four bearings are frozen. The work takes 3 months."
    assert keep_faithful("Four bearings are frozen. It takes three months.", source)[1] == 0
    assert keep_faithful("Five bearings are frozen. It takes 3 months.", source)[:2] == ("It takes 3 months.", 1)
    assert keep_faithful("One of the bearings is frozen.", source)[1] == 0  # "one" is not read as a figure


def test_a_sentence_that_says_nothing_new_is_left_out():
    source = ("The Harbor Bridge report describes the bridge in 4 pages with photographs. "
              "The deck is rated 5, previously 6.")
    text, dropped, _ = keep_faithful(
        "The Harbor Bridge report describes the bridge in 4 pages with photographs. The deck is rated 5. "
        "The report describes the bridge with photographs. The deck was rated 6 previously.", source)
    assert text == ("The Harbor Bridge report describes the bridge in 4 pages with photographs. The deck is rated 5. "
                    "The deck was rated 6 previously.") and dropped == 0


def test_summaries_keep_their_extractive_fallback():
    source = " ".join(["The bridge deck was resurfaced in 2021 after the winter storms damaged it badly."] * 3)
    text, dropped, extractive = keep_faithful("It was built by Zorgon Industries.", source, fallback_sentences=1)
    assert extractive and dropped == 1 and text.startswith("The bridge deck was resurfaced in 2021")


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def test_a_quote_is_the_whole_sentence_across_a_wrapped_line_and_sits_at_its_offset():
    passage = ("Harbor Bridge (PM-0417)\nBiennial Inspection Report\n"
               "The main span is a steel tied arch of 186 m; the approaches are\n"
               "prestressed concrete girders. Ratings follow.\nDeck | 5 | fair\nPiers | 6 | good")
    quote, offset = best_quote(passage, "How long is the main span?", "")
    assert quote == "The main span is a steel tied arch of 186 m; the approaches are\nprestressed concrete girders."
    assert passage[offset:offset + len(quote)] == quote
    assert best_quote(passage, "What state are the piers in?", "")[0] == "Piers | 6 | good"


def test_sentences_end_at_sentence_ends_and_at_line_breaks_that_do_not_wrap_a_sentence():
    # a line break before a capital (a heading, the next sentence), after a sentence end or a colon, or
    # between table rows ends a sentence; one inside a statement does not
    assert _sentences("Harbor Bridge (PM-0417)\nBiennial Inspection Report") == [
        "Harbor Bridge (PM-0417)", "Biennial Inspection Report"]
    assert _sentences("It ended.\nthen it began") == ["It ended.", "then it began"]
    assert _sentences("The work includes:\n- repainting") == ["The work includes:", "- repainting"]
    assert _sentences("Deck | 5 | fair\n2021 | 6 | good") == ["Deck | 5 | fair", "2021 | 6 | good"]
    assert _sentences("Their estimated cost totals\n$9,098,000 in all.") == [
        "Their estimated cost totals\n$9,098,000 in all."]
    # a list number is not a sentence
    assert _sentences("4. Findings\nA crack. B. Deck is fair.") == ["4. Findings", "A crack.", "B. Deck is fair."]


def test_the_extractive_answer_reads_a_wrapped_sentence_on_one_line():
    passages = ["Lane closures run at night from 6 to\n17 October 2025, and the ramp stays open."]
    grounded, _, extractive = grounded_answer("On May 3, 1999.", passages, "When do the lane closures run?")
    assert extractive and grounded == "Lane closures run at night from 6 to 17 October 2025, and the ramp stays open."


REPORT = [  # passages as the index returns them: lines wrapped as on the page
    "The bridge carries an average of 31,400 vehicles a day, of which 6 percent are trucks. It is\n"
    "the only crossing of the channel.",
    "The city has applied for a state Bridge Investment Program grant of $4,200,000. The\n"
    "remaining $4,898,000 would come from the city capital fund.",
    "Costs are 2025 estimates and include a 15 percent contingency.\n"
    "They exclude the inspection fee of $186,500 under contract PW-2025-117.",
    "F-1 Crack-arrest holes, floor beam FB-14 Oct 2025 (done) $48,000\n"
    "F-2 Replace four bearings at Pier 2 Mar - Jun 2026 $1,350,000",
]


def test_a_figure_read_as_the_other_kind_is_dropped():
    # "6 percent" of the trucks is not 6 vehicles
    grounded, dropped, extractive = grounded_answer(
        "The bridge has 6 vehicles crossing it each day.", REPORT, "How many vehicles cross the bridge each day?")
    assert (dropped, extractive) == (1, True)
    assert grounded == "The bridge carries an average of 31,400 vehicles a day, of which 6 percent are trucks."


def test_a_figure_from_a_sentence_about_something_else_is_not_the_answer():
    grounded, _, extractive = grounded_answer(
        "The fee for the inspection contract is $4,200,000.", REPORT, "What is the fee for the inspection contract?")
    assert extractive and grounded == "They exclude the inspection fee of $186,500 under contract PW-2025-117."


def test_a_figure_question_answered_without_a_figure_gets_the_passage_that_has_it():
    # "Pier 2" is the question's own figure, not an answer to "what will it cost"
    grounded, dropped, extractive = grounded_answer(
        "The work will replace the four bearings at Pier 2.", REPORT,
        "What will replacing the four bearings at Pier 2 cost?")
    assert (dropped, extractive) == (1, True)
    assert grounded == "F-2 Replace four bearings at Pier 2 Mar - Jun 2026 $1,350,000"


def test_a_figure_taken_from_the_right_sentence_is_kept():
    answer = "The state grant is $4,200,000."
    assert grounded_answer(answer, REPORT, "How large is the state Bridge Investment Program grant?") == (
        answer, 0, False)
    # and a question that asks for no figure is not held to one
    assert grounded_answer("The city applied for a state grant.", REPORT, "Who applied for the grant?") == (
        "The city applied for a state grant.", 0, False)


def test_terms_match_across_word_forms():
    assert terms("replacing delaminated bearings opened") == terms("replace delamination bearing open")
    assert figures("6 percent of 31,400 on 2025-09-19 (15%)") == {
        ("6", True), ("31,400", False), ("2025-09-19", False), ("2025", False), ("09", False), ("19", False),
        ("15", True)}


# -- the question's subject (docpipe.logic.ask_subject): Ask answers found: false when no passage is about it --

def test_a_passage_is_about_a_question_that_shares_its_names_and_most_of_its_key_words():
    from docpipe.logic.ask_subject import Subject

    subject = Subject("How many vehicles cross the Harbor Bridge each day?")
    assert subject.names == {"harbor", "bridge"}
    assert subject.is_about(REPORT[0].replace("The bridge", "The Harbor Bridge"))
    assert not subject.is_about(REPORT[0])  # no "Harbor": another bridge, perhaps
    # word forms match: "seeps" is about "seepage", "inspect" about "inspection"
    assert Subject("How much water seeps from the foundation drains?").is_about(
        "Seepage from the foundation drains has risen to 14 litres per second.")
    assert Subject("Who will inspect the footbridge?").is_about("The footbridge inspection is due in May.")


def test_a_passage_close_to_the_question_but_about_something_else_is_not_about_it():
    from docpipe.logic.ask_subject import Subject

    dam = Subject("Who will inspect the beta reservoir dam?")
    assert not dam.is_about("The next routine inspection of the Harbor Bridge is due in September 2027 and will "
                            "be carried out by Kestrel Engineering Group.")
    assert dam.is_about("Beta reservoir: the dam will be inspected by Halden Consult in June.")
    # codes must be there as they are: FB-14 is not FB-15
    crack = Subject("How long is the fatigue crack in floor beam FB-14?")
    assert crack.names == {"fb-14"}
    assert crack.is_about("A fatigue crack 38 mm long was found in floor beam FB-14.")
    assert not crack.is_about("A fatigue crack 38 mm long was found in floor beam FB-15.")
    # a question with nothing to check is not refused for it
    assert Subject("What is it?").is_about("Anything at all.")


def test_a_figure_of_another_kind_than_the_one_asked_is_not_the_answer():
    tower = ["The Ostend water tower was built in 1927 to hold the town's reserve.",
             "It rises 38 m above the square, and its tank holds 900 cubic metres."]
    # the year shares more words with "how tall is the Ostend water tower" than the height does; a year is no height
    question = "How tall is the Ostend water tower?"
    grounded, dropped, extractive = grounded_answer("The Ostend water tower was built in 1927.", tower, question)
    assert (grounded, dropped, extractive) == (tower[1], 1, True)
    assert grounded_answer("It rises 38 m.", tower, question) == ("It rises 38 m.", 0, False)
    yard = ["The Norby bus yard opened in 1982 on the old gasworks site.", "It maintains 67 buses on 9 lanes."]
    assert grounded_answer("The yard opened in 1982.", yard, "How many buses does the Norby yard maintain?")[0] == yard[1]


def test_kinds_of_figures_read_from_what_stands_next_to_them():
    from docpipe.logic.ask_kinds import asked_kinds, figures_of_kind

    text = ("Built in 1927, it is 38 m high. The new pumps cost $640,000. Demand rose 15 percent to 22 litres "
            "per second. The survey is due in June 2029. It serves 8,300 homes.")
    assert figures_of_kind(text, asked_kinds("How tall is it?")) == {("38", False)}
    assert figures_of_kind(text, asked_kinds("What will the pumps cost?")) == {("640,000", False)}
    assert figures_of_kind(text, asked_kinds("By what share did demand rise?")) == {("15", True)}
    assert figures_of_kind(text, asked_kinds("In what year was it built?")) == {("1927", False), ("2029", False)}
    assert figures_of_kind(text, asked_kinds("How many homes does it serve?")) == {("8,300", False)}
    assert asked_kinds("How much water flows through?") is None  # any kind may answer


def test_a_question_asking_which_firm_gets_a_name_from_the_sentence_about_it():
    passages = ["Ostend water tower: structural survey 2026. Commissioned by the Ostend Water Board.",
                "The survey of the tower was carried out by Fenwick Lusk Engineers in January 2026.",
                "The tower's tank and the survey's findings are described below, tank first."]
    question = "Which firm carried out the tower survey?"
    grounded, dropped, extractive = grounded_answer("The Ostend Water Board carried out the survey.",
                                                    passages, question)
    assert extractive and dropped == 1
    assert grounded == "The survey of the tower was carried out by Fenwick Lusk Engineers in January 2026."
    answer = "Fenwick Lusk Engineers carried out the survey."
    assert grounded_answer(answer, passages, question) == (answer, 0, False)


def test_candidates_are_re_ranked_by_the_question_words_they_hold_the_rarer_the_more():
    from docpipe.logic.ask_ranking import rerank

    def hit(text, distance):
        return {"metadata": {"text": text}, "distance": distance}

    hits = [hit("The next routine inspection is due in September 2027.", 0.58),
            hit("The inspection took place from 8 to 19 September 2025.", 0.60),
            hit("Inspection methods: the inspection used rope access and a snooper truck.", 0.61),
            hit("The inspection was carried out by Kestrel Engineering Group.", 0.66)]
    ranked = rerank(hits, "Which firm carried out the inspection?", keep=2)
    assert [h["metadata"]["text"] for h in ranked] == [hits[3]["metadata"]["text"], hits[0]["metadata"]["text"]]
