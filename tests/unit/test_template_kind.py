"""The one template-kind rule (backend/templates/kinds.py), for what needs no database."""

from __future__ import annotations

import pytest

from backend.models import Template
from backend.states import TemplateKind
from backend.templates.kinds import kind_of


@pytest.mark.parametrize("kind", list(TemplateKind))
def test_a_confirmed_template_is_of_the_kind_wechat_listed(kind):
    assert kind_of(Template(app_id="wx1", id="T", kind=kind), user_id=1, template_id="T") == kind


def test_an_unconfirmed_template_without_a_subscriber_is_one_time():
    assert kind_of(None) == TemplateKind.ONE_TIME
