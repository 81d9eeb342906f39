"""python -m attnviz"""

from attnviz._entry import main

if __name__ == "__main__":
    main()
