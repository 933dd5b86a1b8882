"""The feature modules, imported once so their keywords register with the router (wechatpy's parser
registry pattern): the router never imports a feature, so the dependency points one way."""

from handlers import (
    activities,
    admin,
    ballots,
    liaison,
    questions,
    scoring_chat,
    selfscore,
    sentences,
    submit,
    votes,
)

FEATURES = (
    activities,
    admin,
    liaison,
    questions,
    scoring_chat,
    selfscore,
    sentences,
    submit,
    votes,
    ballots,
)
