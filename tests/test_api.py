import jaxnet


def test_public_names_are_pinned():
    # Adding or removing a public name must be a deliberate change to this list.
    assert sorted(jaxnet.__all__) == sorted(
        [
            "MLP",
            "History",
            "backprop",
            "fit",
            "forward",
            "init",
            "per_example_grads",
            "value_and_grad",
            "gradcheck",
            "GradcheckReport",
            "Scaler",
            "fit_population",
            "PopulationHistory",
        ]
    )
    for name in jaxnet.__all__:
        assert getattr(jaxnet, name) is not None
