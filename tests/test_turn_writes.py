from handlers.base import Inbound


def _msg(userid: str, text: str, key: str):
    return Inbound("app", userid, text, key), 2048


def test_the_last_turn_of_a_batch_keeps_its_state_and_its_stored_answer(any_services):
    dispatcher = any_services.dispatcher
    dispatcher.dispatch(Inbound("app", "wangfang", "填报", "k1"))
    answers = dispatcher.dispatch_many([_msg("zhaolei", "帮助", "k2"), _msg("wangfang", "6", "k3")])
    again = dispatcher.dispatch(*_msg("wangfang", "6", "k3"))  # redelivered: the stored answer, nothing redone
    going_on = dispatcher.dispatch(*_msg("wangfang", "7", "k4"))  # the form went on from the saved state
    assert "已记录：党委会 6 次" in answers[1][0].text
    assert [r.text for r in again] == [r.text for r in answers[1]]
    assert "已记录：党小组会 7 次" in going_on[0].text


def test_a_turn_alone_keeps_its_state_and_its_stored_answer(any_services):
    dispatcher = any_services.dispatcher
    dispatcher.dispatch(Inbound("app", "wangfang", "填报", "k1"))
    first = dispatcher.dispatch(*_msg("wangfang", "6", "k2"))
    assert [r.text for r in dispatcher.dispatch(*_msg("wangfang", "6", "k2"))] == [r.text for r in first]
    assert "已记录：党小组会 7 次" in dispatcher.dispatch(*_msg("wangfang", "7", "k3"))[0].text
