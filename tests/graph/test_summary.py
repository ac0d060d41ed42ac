

def test_counted_puts_the_noun_in_the_right_number():
    from graph.summary import counted

    assert counted(1, "run") == "1 run" and counted(0, "run") == "0 runs"
    assert counted(3, "misclassified sample") == "3 misclassified samples"
    assert counted(2, "child", "children") == "2 children"
