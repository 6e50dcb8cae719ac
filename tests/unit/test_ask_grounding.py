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


def test_candidates_are_the_nearest_and_the_farther_passages_of_their_documents():
    from docpipe.logic.ask_ranking import NEAREST_PER_PASSAGE, candidates

    # nearest first: documents a and b among the nearest 3 per passage wanted, c only farther away
    documents = ["a", "b", "a"] + ["c", "a", "c", "b", "c"]
    hits = [{"metadata": {"doc_id": doc_id, "text": f"passage {n}"}} for n, doc_id in enumerate(documents)]
    assert NEAREST_PER_PASSAGE == 3
    kept = candidates(hits, top_k=1)
    assert [h["metadata"]["text"] for h in kept] == ["passage 0", "passage 1", "passage 2", "passage 4", "passage 6"]
    assert candidates(hits, top_k=3) == hits  # all of them are among the nearest


# -- answer kinds of closures, reopenings, commissioning years, completion dates and the firms that did the work --

def test_a_line_of_prose_wrapped_before_a_name_or_a_month_is_one_sentence():
    passage = ("An energy audit of the whole centre, carried out in March 2026 by\n"
               "Meridian Energy Associates, found that the pool hall uses 64 percent of the centre's gas.\n"
               "Corran Leisure Centre\nBriefing note to the committee")
    assert _sentences(passage) == [
        "An energy audit of the whole centre, carried out in March 2026 by\nMeridian Energy Associates, found that "
        "the pool hall uses 64 percent of the centre's gas.", "Corran Leisure Centre", "Briefing note to the committee"]
    # a short line, a heading or a line ending in a capitalized word stays a line of its own
    assert _sentences("Condition of the roof trusses\nCorrosion was found.") == [
        "Condition of the roof trusses", "Corrosion was found."]
    heading = "## The tunnel and its ventilation, drainage and lighting systems"
    assert _sentences(heading + "\nEach bore is 1.9 km long.") == [heading, "Each bore is 1.9 km long."]


def test_who_carried_out_the_work_asks_for_a_name_and_gets_the_firm_from_the_sentence_about_it():
    from docpipe.logic.ask_grounding import asks_for_name

    assert asks_for_name("Who carried out the fire safety audit?") and asks_for_name("Who will inspect the dam?")
    assert asks_for_name("Who was awarded the works contract?") and asks_for_name("Which contractor built it?")
    # who led, managed, approved... the work: a person or a firm
    assert asks_for_name("Who led the inspection team?") and asks_for_name("Who managed the restoration?")
    assert asks_for_name("Who signed off the works?") and asks_for_name("Who oversaw the programme?")
    assert not asks_for_name("Who is affected by the closure?")  # "residents" may answer it
    assert not asks_for_name("Who applied for the grant?")  # "the city" may answer it
    # a role named, with words before it, and the verbs of doing the work that set 6's writer found missing
    assert asks_for_name("Which engineering firm designed the canopy?") and asks_for_name("Who handled the claim?")
    assert asks_for_name("Who is the director of works?") and asks_for_name("Who was the project manager?")
    assert asks_for_name("Which structural engineering consultancy was used?")
    assert not asks_for_name("What is the contractor's fee?")  # money, from the contractor
    assert not asks_for_name("What was the contractor paid?")
    passages = ["The Regional Roads Agency owns the Kestrel Tunnel and commissioned the audit.",
                "A fire safety audit carried out in February 2026 by\nArdent Fire & Risk LLP found that the "
                "ventilation no longer meets the standard."]
    question = "Who carried out the fire safety audit of the tunnel?"
    grounded, dropped, extractive = grounded_answer("The Regional Roads Agency carried out the audit.", passages,
                                                    question)
    assert extractive and dropped == 1
    assert grounded.startswith("A fire safety audit carried out in February 2026 by Ardent Fire & Risk LLP found")


def test_a_numbered_part_is_not_a_name():
    from docpipe.logic.ask_grounding import names

    assert names("Tue 16 Sep 2025 - Dive team (Harborline Marine) at Piers 2 and 3.") == {
        "dive", "harborline", "marine"}


def test_how_long_something_is_closed_asks_for_a_time_spelled_out_or_not():
    from docpipe.logic.ask_kinds import asked_kinds, figures_of_kind

    text = "Each bore is 1.9 km long. It will be closed for 22 weeks, then tested for four weeks."
    closed = asked_kinds("How long will the northbound bore be closed?")
    assert closed == {"duration"} and asked_kinds("How long will the work take?") == {"duration"}
    assert figures_of_kind(text, closed) == {("22", False), ("4", False)}
    assert figures_of_kind(text, asked_kinds("How long is each bore?")) == {("1.9", False), ("22", False), ("4", False)}
    # "four" is a figure the answer must take from the right sentence, like "4"
    passages = ["The hall will stay closed for between 30 and 34 weeks while the roof is rebuilt.",
                "The new plant will then be tested for four weeks."]
    assert grounded_answer("The hall stays closed for four weeks.", passages,
                           "How long will the hall stay closed?") == (passages[0], 1, True)
    assert grounded_answer("It stays closed for between 30 and 34 weeks.", passages,
                           "How long will the hall stay closed?")[2] is False


def test_when_asks_for_the_date_as_closely_as_the_passage_gives_it():
    from docpipe.logic.ask_kinds import asked_kinds, figures_of_kind

    text = "Work starts in April 2026 and ends on 18 June 2027; the pools reopen in spring 2028. It opened in 1979."
    assert figures_of_kind(text, asked_kinds("When do the pools reopen?")) == {
        ("apr 2026", False), ("18", False), ("jun 2027", False), ("spr 2028", False), ("1979", False)}
    assert figures_of_kind(text, asked_kinds("In what year do the pools reopen?")) == {
        ("2026", False), ("2027", False), ("2028", False), ("1979", False)}
    passages = ["Eastfield depot opened in 1978.", "Work starts in April 2026. The upgrade will be finished in "
                "November 2026."]
    grounded, _, extractive = grounded_answer("The upgrade will be finished by the end of 2026.", passages,
                                              "When will the Eastfield depot upgrade be finished?")
    assert extractive and grounded == "The upgrade will be finished in November 2026."


def test_the_sentence_about_what_is_asked_outweighs_one_that_only_names_the_subject():
    passages = ["Corran Leisure Centre opened in 1979. It has a 25 m pool.",
                "The work is due to be completed by 18 June 2027, and the pools will reopen in July 2027."]
    grounded, _, extractive = grounded_answer("Corran Leisure Centre opened in 1979.", passages,
                                              "When will the pools at Corran Leisure Centre reopen?")
    assert extractive and grounded == passages[1]


def test_due_is_a_word_of_asking_not_of_the_subject():
    from docpipe.logic.ask_subject import Subject

    subject = Subject("By what date is the leisure centre work due to be completed?")
    assert "due" not in subject.key_words
    assert subject.is_about("The leisure centre work will be completed by 18 June 2027.")


def test_a_reworded_question_is_about_the_document_that_holds_its_subject():
    from docpipe.logic.ask_subject import Subject

    # "had", "up", "again" name nothing; the sentence that answers says "renewed", not "replaced", and only
    # its document says "kiosk": half of the key words, read with the document, are enough
    subject = Subject("How many of the kiosk's glass panels had to be replaced?")
    assert subject.key_words == {"kiosk", "glas", "panel", "replac"} and subject.needed == 2
    answer = "Nine of the panels were renewed in toughened glass."
    assert not subject.is_about("Nine were renewed.")
    assert subject.is_about(answer)
    assert Subject("When can visitors go up to the kiosk roof again?").is_about(
        "The roof terrace reopens to visitors on 4 May.", "# Marl Street kiosk: works report")
    # a question about another structure still finds nothing: one of the four key words
    assert not Subject("Who will inspect the beta reservoir dam?").is_about(
        "The next routine inspection is due in September 2027.", "# Harbor Bridge inspection report")


def test_only_the_passages_about_the_subject_are_kept():
    from docpipe.logic.ask_subject import about_the_subject

    def hit(doc_id: str, text: str) -> dict:
        return {"metadata": {"doc_id": doc_id, "text": text, "source_key": f"inbox/{doc_id}.md"}}

    hits = [hit("kelby", "The Kelby pumping works were commissioned in 1968."),
            hit("kelby", "Two of the six pumps were replaced in 2025."),
            hit("ostend", "The Ostend water tower was built in 1927.")]
    # the second Kelby passage does not name Kelby: its document does
    assert about_the_subject(hits, "When were the Kelby pumps replaced?") == hits[:2]
    assert about_the_subject(hits, "When was the Marl Street kiosk built?") == []


def test_a_heading_holds_no_answer():
    passages = ["# Kelby Pumping Works: Condition Survey 2026\nThe works were commissioned in 1968 and extended "
                "in 1994. Pump 3 was refurbished by Tay Valley Pumps Ltd."]
    question = "In what year were the Kelby pumping works commissioned?"
    # the heading names the works and holds a year, but states nothing: the model's sentence stands
    grounded, dropped, extractive = grounded_answer("The works were commissioned in 1968.", passages, question)
    assert (grounded, dropped, extractive) == ("The works were commissioned in 1968.", 0, False)
    grounded, _, extractive = grounded_answer("It is not stated.", passages, question)
    assert extractive and grounded == "The works were commissioned in 1968 and extended in 1994."


def test_how_many_is_answered_by_a_count_of_what_it_counts():
    from docpipe.logic.ask_grounding import counted_figures, counted_terms

    assert counted_terms("How many new gas extraction wells were drilled at the landfill?") == terms(
        "gas extraction wells")
    assert counted_terms("How much did it cost?") == set()
    text = ("It has seven levels and, before the works, offered 612 parking spaces; levels 5 to 7 are closed. "
            "Crews drilled 48 new vertical gas wells.")
    assert counted_figures(text, counted_terms("How many levels does the car park have?")) == {("7", False)}
    assert counted_figures(text, counted_terms("How many parking spaces are there?")) == {("612", False)}
    assert counted_figures(text, counted_terms("How many gas wells were drilled?")) == {("48", False)}
    passages = ["The car park opened in 1973. It has seven levels and offered 612 parking spaces.",
                "During the works levels 5 to 7 are closed and the car park operates with about 330 spaces."]
    question = "How many levels does the car park have?"
    # a count of something else ("330 spaces") is no answer; with the model's answer dropped, the sentence
    # counting levels answers
    assert grounded_answer("The car park has 330 levels.", passages, question) == (passages[0].split(". ")[1], 1, True)
    assert grounded_answer("It has seven levels.", passages, question) == ("It has seven levels.", 0, False)
    # where no passage counts what is asked about, any count may answer, as before
    assert grounded_answer("Four bids were received.", ["Four bids were received in May."],
                           "How many companies put in a bid?") == ("Four bids were received.", 0, False)


def test_an_abbreviation_of_the_question_is_held_as_the_words_it_stands_for():
    from docpipe.logic.ask_subject import Subject

    ups = Subject("When is the UPS replacement expected to take place?")
    assert ups.is_about("A second phase, replacing the uninterruptible power supplies, is planned for spring 2027.")
    assert ups.is_about("The UPS replacement is planned for spring 2027.")
    assert not ups.is_about("The replacement of the pumps is planned for spring 2027.")
    nox = Subject("How much lower are NOx emissions from the new engines?")
    assert nox.is_about("Nitrogen oxide emissions from the engines were 71% lower than before.")
    # the words must be long enough to be what it stands for, not a chance run of short ones
    assert not nox.is_about("Emissions from the engines are now one of the lowest: no one objected.")


def test_words_that_name_nothing_are_not_key_words_of_the_subject():
    from docpipe.logic.ask_subject import Subject

    subject = Subject("How many weeks was Mill Road shut so its culvert could be rebuilt?")
    assert subject.key_words == terms("weeks shut culvert rebuilt") and subject.needed == 2
    # "closed" while the culvert was "replaced": two of the four are enough
    assert subject.is_about("Mill Road had to be closed for 9 weeks while its culvert was replaced.")
    assert "one" not in Subject("How much lower are emissions from the new engines than the old ones?").key_words


def test_the_question_terms_near_a_figure_say_which_sentence_gives_it():
    # the economiser's sentence shares more of the question's words, but none near its figure; the sentence
    # pricing four things has "gas engine" right before £940,000
    passages = ["The replacement of the flue gas economiser, which recovers heat from the new engine exhaust, was "
                "completed in the spring after a long delay over parts, and it has been priced by Brannock Thermal "
                "Ltd at £486,000.",
                "The main elements were well drilling at £610,000, pipework at £520,000, the gas engine at £940,000 "
                "and the enclosed flare at £310,000."]
    question = "What did the new gas engine cost?"
    grounded, dropped, extractive = grounded_answer("The new gas engine cost £2.75 million.", passages, question)
    assert (dropped, extractive) == (1, True) and "the gas engine at £940,000" in grounded
    assert grounded_answer("The new gas engine cost £940,000.", passages, question) == (
        "The new gas engine cost £940,000.", 0, False)
    assert grounded_answer("The new gas engine cost £486,000.", passages, question)[2]  # the economiser's price


def test_which_year_and_the_size_of_an_amount_ask_for_a_figure_and_a_possessive_role_for_a_name():
    from docpipe.logic.ask_grounding import asks_for_figure, asks_for_name

    assert asks_for_figure("In which year did the plant first go into service?")
    assert asks_for_figure("What was the size of the heritage grant?")
    assert not asks_for_figure("Who applied for the grant?")
    assert asks_for_name("Who was the council's project manager for the roof renewal?")
    passages = ["This memo reports the findings of the annual inspection of the Oxley Moor heating plant in 2026.",
                "The boilers were commissioned in 1994."]
    # a year from the memo's own date is not when the plant went into service: with no year asked for, any
    # sentence with a figure would do
    grounded, _, extractive = grounded_answer("It went into service in 2026.", passages,
                                              "In which year did the boilers first go into service?")
    assert extractive and grounded == "The boilers were commissioned in 1994."


def test_a_name_the_answer_shortens_is_written_as_the_passages_write_it():
    from docpipe.logic.ask_grounding import full_names

    passages = ["The periodic safety review was carried out in June 2025 by Halvorsen Marr\nConsulting.",
                "Aircrest designed the controls.", "| Mechanical sub-contractor | Aircrest Building Services |"]
    question = "Which firm carried out the safety review?"
    assert grounded_answer("The review was carried out by Halvorsen Marr.", passages, question)[0] == (
        "The review was carried out by Halvorsen Marr Consulting.")
    assert full_names("Aircrest fitted them.", passages) == "Aircrest Building Services fitted them."
    assert full_names("Halvorsen Marr Consulting did.", passages) == "Halvorsen Marr Consulting did."  # already whole
    # a short form that begins two names is not guessed at, and a sentence's opener begins no name
    assert full_names("Aircrest did.", passages + ["Aircrest Ltd invoiced it."]) == "Aircrest did."
    assert full_names("The review found cracks.", ["The Review Board met."]) == "The review found cracks."
    # only an answer that names a firm or a person is completed
    assert grounded_answer("Halvorsen Marr carried it out in June 2025.", passages,
                           "When was the safety review carried out?")[0] == "Halvorsen Marr carried it out in June 2025."
