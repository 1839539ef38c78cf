"""Few-shot examples for the chat, PAL and CoT prompt formats (written for this project).

The questions and solutions here are original: they were written for langchain-tora
and are not taken from GSM8K, MATH or the prompts of other projects.  Each dataset
style (GSM8K-like word problems, MATH-like competition problems) has three examples
in each of three solution styles:

* ``TORA_*``: tool-integrated trajectories.  A short rationale, then a ```` ```python ````
  block that prints its result, immediately followed by the interpreter's answer in an
  ```` ```output ```` block (exactly the text :func:`langchain_tora.trajectory.output_block`
  appends), possibly more rounds, and a last sentence with ``$\\boxed{answer}$``.  Every
  program is self-contained, and every output block is exactly what running that
  program alone prints (or, on an error, the last line of its traceback), which
  ``tests/test_fewshot.py`` checks.
* ``PAL_*``: a single ```` ```python ```` block defining ``solution()``, which returns
  the answer; nothing is printed and there is no output block.
* ``COT_*``: plain step-by-step reasoning ending with ``The answer is $\\boxed{...}$.``

``TORA_SYSTEM``, ``PAL_SYSTEM`` and ``COT_SYSTEM`` are the matching system prompts for
chat models.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

__all__ = [
    "COT_GSM8K",
    "COT_MATH",
    "COT_SYSTEM",
    "PAL_GSM8K",
    "PAL_MATH",
    "PAL_SYSTEM",
    "TORA_GSM8K",
    "TORA_MATH",
    "TORA_SYSTEM",
    "Example",
]


@dataclass(frozen=True, slots=True)
class Example:
    """One solved problem shown to the model before the real question."""

    question: str
    solution: str


def _text(block: str) -> str:
    """Dedent an indented triple-quoted block and drop its surrounding blank lines."""
    return textwrap.dedent(block).strip("\n")


# ---------------------------------------------------------------------------
# System prompts
# ---------------------------------------------------------------------------

TORA_SYSTEM = _text(
    r"""
    You are a careful mathematician who solves problems by combining step-by-step reasoning with Python code.
    Work in rounds. In each round, write a brief rationale, then one program in a ```python block that prints the values you need. The program is run and whatever it prints is returned to you in an ```output block right after it (on an error you get the last line of the traceback). Read the output, then keep reasoning or write another program.
    - Make every program self-contained: import and define everything it uses, and print its results.
    - Prefer exact computation with sympy (symbols, solve, simplify, Rational, sqrt, pi) over floating point.
    - If a program fails or its output looks wrong, say what went wrong and write a corrected program.
    - Never write an ```output block yourself.
    When you are confident, finish with a sentence that states the final answer as $\boxed{ANSWER}$, in simplest exact form, and write no more code.
    """
)

PAL_SYSTEM = _text(
    r"""
    You solve math problems by writing Python programs.
    Reply with a single ```python block that defines a function `solution()` taking no arguments and returning the final answer.
    - Begin the function with a short docstring restating the problem.
    - Use descriptive variable names and compute the answer step by step; do not hard-code it.
    - Use sympy when the answer must be exact (fractions, radicals, pi).
    - Do not print anything and do not call the function; write nothing outside the code block.
    """
)

COT_SYSTEM = _text(
    r"""
    You solve math problems by reasoning step by step.
    Explain each step briefly and show the arithmetic or algebra it relies on.
    End with the line "The answer is $\boxed{ANSWER}$." where ANSWER is the final answer in simplest form: a plain number for word problems, exact LaTeX (such as \frac{3}{4}, 2\sqrt{5} or 4\pi) otherwise.
    """
)


# ---------------------------------------------------------------------------
# ToRA: tool-integrated trajectories
# ---------------------------------------------------------------------------

TORA_GSM8K: tuple[Example, ...] = (
    Example(
        question=(
            "A bakery sells muffins for $3 each and cookies for $1.25 each. On Saturday it "
            "sold 48 muffins and three times as many cookies as muffins. How much money did "
            "the bakery make from muffins and cookies on Saturday?"
        ),
        solution=_text(
            r"""
            The bakery sold 48 muffins and three times as many cookies, so I'll compute the number of cookies and add up the revenue from both.
            ```python
            muffin_price = 3
            cookie_price = 1.25
            muffins_sold = 48
            cookies_sold = 3 * muffins_sold

            revenue = muffins_sold * muffin_price + cookies_sold * cookie_price
            print(revenue)
            ```
            ```output
            324.0
            ```
            The bakery sold 144 cookies and made 324 dollars in total, so the answer is $\boxed{324}$.
            """
        ),
    ),
    Example(
        question=(
            "Priya is training for a charity run. She runs 12 km in the first week and "
            "increases her weekly distance by 3 km every week after that. After how many "
            "weeks will her total distance first reach at least 150 km?"
        ),
        solution=_text(
            r"""
            I'll add up her weekly distances one week at a time until the running total reaches 150 km.
            ```python
            weekly_km = 12
            total_km = 0
            weeks = 0
            while total_km < 150:
                weeks += 1
                total_km += weekly_km
                weekly_km += 3
            print(weeks, total_km)
            ```
            ```output
            8 180
            ```
            The total first reaches 150 km after 8 weeks. Let me double-check with the arithmetic series formula for the totals after 7 and 8 weeks.
            ```python
            def total_after(n_weeks):
                first_week, increase = 12, 3
                return n_weeks * (2 * first_week + (n_weeks - 1) * increase) // 2


            print(total_after(7), total_after(8))
            ```
            ```output
            147 180
            ```
            After 7 weeks she has run only 147 km, and after 8 weeks she has run 180 km, so the answer is $\boxed{8}$.
            """
        ),
    ),
    Example(
        question=(
            "Leo earns $18 per hour for the first 40 hours he works in a week and one and a "
            "half times that rate for every hour beyond 40. Last week he worked 45 hours, and "
            "20% of his pay was withheld for taxes. How much money did Leo take home?"
        ),
        solution=_text(
            r"""
            Leo's pay has a regular part (40 hours) and an overtime part (the remaining hours at 1.5 times the rate); 20% of the total is withheld.
            ```python
            hourly_rate = 18
            overtime_rate = 1.5 * hourly_rate
            hours_worked = 45

            regular_pay = 40 * hourly_rate
            overtime_pay = (hours_worked - 40) * overtime_rate
            gross_pay = regular_pay + overtime_pay
            take_home = round(gross_pay * (1 - 0.20), 2)
            print(gross_pay, take_home)
            ```
            ```output
            855.0 684.0
            ```
            Leo earned 855 dollars before taxes and kept 80% of it, so he took home $\boxed{684}$ dollars.
            """
        ),
    ),
)

TORA_MATH: tuple[Example, ...] = (
    Example(
        question=(
            r"Real numbers $a$ and $b$ satisfy $a + b = 5$ and $a^2 + b^2 = 17$. Compute $a^4 + b^4$."
        ),
        solution=_text(
            r"""
            I'll solve the system for $a$ and $b$ with sympy and evaluate $a^4 + b^4$ at every solution.
            ```python
            from sympy import expand, solve, symbols

            a = symbols('a')
            solutions = solve([a + b - 5, a**2 + b**2 - 17], [a, b])
            print(solutions)
            ```
            ```output
            NameError: name 'b' is not defined
            ```
            I forgot to declare $b$ as a symbol. Let me define both symbols and run it again.
            ```python
            from sympy import expand, solve, symbols

            a, b = symbols('a b')
            solutions = solve([a + b - 5, a**2 + b**2 - 17], [a, b])
            values = {expand(a_val**4 + b_val**4) for a_val, b_val in solutions}
            print(solutions, values)
            ```
            ```output
            [(1, 4), (4, 1)] {257}
            ```
            Both solutions, $(a, b) = (1, 4)$ and $(4, 1)$, give $1 + 256 = 257$, so the answer is $\boxed{257}$.
            """
        ),
    ),
    Example(
        question=(
            r"In triangle $ABC$, $AB = 5$, $AC = 8$, and $\angle BAC = 60^\circ$. Find the "
            r"length of the altitude from $A$ to $\overline{BC}$."
        ),
        solution=_text(
            r"""
            First I'll find $BC$ with the law of cosines: $BC^2 = AB^2 + AC^2 - 2 \cdot AB \cdot AC \cos \angle BAC$.
            ```python
            from sympy import cos, pi, simplify, sqrt

            AB, AC = 5, 8
            angle_A = pi / 3
            BC = sqrt(AB**2 + AC**2 - 2 * AB * AC * cos(angle_A))
            print(simplify(BC))
            ```
            ```output
            7
            ```
            So $BC = 7$. The area of the triangle is $\frac{1}{2} \cdot AB \cdot AC \sin \angle BAC$, and the altitude $h$ from $A$ satisfies $\frac{1}{2} \cdot BC \cdot h = \text{area}$.
            ```python
            from sympy import Rational, pi, simplify, sin

            AB, AC, BC = 5, 8, 7
            area = Rational(1, 2) * AB * AC * sin(pi / 3)
            altitude = simplify(2 * area / BC)
            print(area, altitude)
            ```
            ```output
            10*sqrt(3) 20*sqrt(3)/7
            ```
            The area is $10\sqrt{3}$, so the altitude from $A$ to $\overline{BC}$ has length $\boxed{\frac{20\sqrt{3}}{7}}$.
            """
        ),
    ),
    Example(
        question=(
            "A bag contains 4 red, 5 blue, and 3 green marbles. Three marbles are drawn at "
            "random without replacement. What is the probability that the three marbles are "
            "all different colors? Express your answer as a common fraction."
        ),
        solution=_text(
            r"""
            Every set of 3 marbles out of 12 is equally likely. A set with all different colors takes one marble of each color.
            ```python
            from sympy import Rational, binomial

            red, blue, green = 4, 5, 3
            total_ways = binomial(red + blue + green, 3)
            favorable_ways = red * blue * green
            probability = Rational(favorable_ways, total_ways)
            print(favorable_ways, total_ways, probability)
            ```
            ```output
            60 220 3/11
            ```
            There are 60 favorable sets out of 220, so the probability is $\boxed{\frac{3}{11}}$.
            """
        ),
    ),
)


# ---------------------------------------------------------------------------
# PAL: program-aided, a ``solution()`` function that returns the answer
# ---------------------------------------------------------------------------

PAL_GSM8K: tuple[Example, ...] = (
    Example(
        question=(
            "A school orders 18 boxes of pencils with 24 pencils in each box. The pencils are "
            "shared equally among 6 classes, and then each class gives away 15 pencils as "
            "prizes. How many pencils does each class have left?"
        ),
        solution=_text(
            r'''
            ```python
            def solution():
                """18 boxes of 24 pencils are shared among 6 classes; each class gives away 15. How many are left per class?"""
                boxes = 18
                pencils_per_box = 24
                classes = 6
                pencils_given_away = 15

                pencils_per_class = boxes * pencils_per_box // classes
                result = pencils_per_class - pencils_given_away
                return result
            ```
            '''
        ),
    ),
    Example(
        question=(
            "Tomás has $120 saved and puts away $35 more every week. He wants to buy a bike "
            "that costs $400 plus 5% sales tax. How many weeks does he need to save before "
            "he can afford the bike?"
        ),
        solution=_text(
            r'''
            ```python
            def solution():
                """Tomás has $120 and saves $35 a week for a $400 bike plus 5% tax. How many weeks must he save?"""
                import math

                savings = 120
                weekly_savings = 35
                bike_price = 400
                sales_tax = bike_price * 5 / 100

                amount_needed = bike_price + sales_tax - savings
                result = math.ceil(amount_needed / weekly_savings)
                return result
            ```
            '''
        ),
    ),
    Example(
        question=(
            "Ana's hens lay 42 eggs a day. She keeps 6 eggs each day for her family and "
            "sells the rest in cartons of a dozen for $5 per carton. How much money does she "
            "make from selling eggs in one week?"
        ),
        solution=_text(
            r'''
            ```python
            def solution():
                """Hens lay 42 eggs a day, 6 are kept daily, the rest sell at $5 a dozen. How much is earned in a week?"""
                eggs_per_day = 42
                eggs_kept_per_day = 6
                days_per_week = 7
                eggs_per_carton = 12
                price_per_carton = 5

                eggs_sold = (eggs_per_day - eggs_kept_per_day) * days_per_week
                cartons_sold = eggs_sold // eggs_per_carton
                result = cartons_sold * price_per_carton
                return result
            ```
            '''
        ),
    ),
)

PAL_MATH: tuple[Example, ...] = (
    Example(
        question=(
            r"What is the smallest positive integer $n$ such that $n \equiv 2 \pmod{5}$, "
            r"$n \equiv 3 \pmod{7}$, and $n \equiv 4 \pmod{9}$?"
        ),
        solution=_text(
            r'''
            ```python
            def solution():
                """Find the smallest positive n with n = 2 (mod 5), n = 3 (mod 7) and n = 4 (mod 9)."""
                n = 1
                while not (n % 5 == 2 and n % 7 == 3 and n % 9 == 4):
                    n += 1
                result = n
                return result
            ```
            '''
        ),
    ),
    Example(
        question=r"Let $f(x) = \dfrac{3x + 2}{x - 1}$. Find $f^{-1}(5)$.",
        solution=_text(
            r'''
            ```python
            def solution():
                """For f(x) = (3x + 2)/(x - 1), find f^{-1}(5)."""
                from sympy import Eq, solve, symbols

                x = symbols('x')
                f = (3 * x + 2) / (x - 1)
                # f^{-1}(5) is the value of x at which f(x) = 5.
                result = solve(Eq(f, 5), x)[0]
                return result
            ```
            '''
        ),
    ),
    Example(
        question=r"Compute $\cos \frac{\pi}{12} \cos \frac{5\pi}{12}$.",
        solution=_text(
            r'''
            ```python
            def solution():
                """Compute cos(pi/12) * cos(5*pi/12) exactly."""
                from sympy import cos, pi, simplify

                product = cos(pi / 12) * cos(5 * pi / 12)
                result = simplify(product)
                return result
            ```
            '''
        ),
    ),
)


# ---------------------------------------------------------------------------
# CoT: chain of thought in words and arithmetic
# ---------------------------------------------------------------------------

COT_GSM8K: tuple[Example, ...] = (
    Example(
        question=(
            "A library had 350 books. A donation increased its collection by 20%, and then "
            "1/4 of all its books were lent out. How many books were left on the shelves?"
        ),
        solution=_text(
            r"""
            The donation added 20% of 350 books, which is $0.2 \times 350 = 70$ books, so the library then had $350 + 70 = 420$ books.
            A quarter of them were lent out: $420 \div 4 = 105$ books.
            That leaves $420 - 105 = 315$ books on the shelves.
            The answer is $\boxed{315}$.
            """
        ),
    ),
    Example(
        question=(
            "Sam drove 150 miles at 50 miles per hour, stopped for lunch for 30 minutes, and "
            "then drove another 120 miles at 60 miles per hour. How many minutes did the "
            "whole trip take, including the stop?"
        ),
        solution=_text(
            r"""
            The first part took $150 \div 50 = 3$ hours, which is $3 \times 60 = 180$ minutes.
            The second part took $120 \div 60 = 2$ hours, which is $2 \times 60 = 120$ minutes.
            Adding the 30-minute lunch stop, the trip took $180 + 120 + 30 = 330$ minutes.
            The answer is $\boxed{330}$.
            """
        ),
    ),
    Example(
        question=(
            "Three friends ordered 3 pizzas at $14 each. They also paid a $6 delivery fee and "
            "gave the driver a $6 tip. If they split the total cost equally, how much did "
            "each friend pay?"
        ),
        solution=_text(
            r"""
            The pizzas cost $3 \times 14 = 42$ dollars.
            With the delivery fee and the tip, the total was $42 + 6 + 6 = 54$ dollars.
            Split three ways, each friend paid $54 \div 3 = 18$ dollars.
            The answer is $\boxed{18}$.
            """
        ),
    ),
)

COT_MATH: tuple[Example, ...] = (
    Example(
        question=(
            r"Find the positive value of $k$ for which the line $y = kx + 2$ is tangent to "
            r"the parabola $y = x^2 + 3$."
        ),
        solution=_text(
            r"""
            At an intersection point, $x^2 + 3 = kx + 2$, that is, $x^2 - kx + 1 = 0$.
            The line is tangent to the parabola exactly when this quadratic has a double root, so its discriminant is zero: $k^2 - 4 = 0$.
            Hence $k = \pm 2$, and the positive value is $k = 2$.
            The answer is $\boxed{2}$.
            """
        ),
    ),
    Example(
        question=(
            "How many four-digit positive integers have digits that strictly increase from "
            "left to right?"
        ),
        solution=_text(
            r"""
            If the digits strictly increase, none of them can be $0$: a $0$ would have to be the leading digit, which a four-digit number cannot have.
            So the digits are four distinct digits from $\{1, 2, \ldots, 9\}$, and each choice of four such digits gives exactly one number, by writing them in increasing order.
            The count is therefore $\binom{9}{4} = \frac{9 \cdot 8 \cdot 7 \cdot 6}{4 \cdot 3 \cdot 2 \cdot 1} = 126$.
            The answer is $\boxed{126}$.
            """
        ),
    ),
    Example(
        question=(
            r"A circle is inscribed in a right triangle whose legs have lengths $9$ and $12$. "
            r"What is the area of the circle? Express your answer in terms of $\pi$."
        ),
        solution=_text(
            r"""
            The hypotenuse is $\sqrt{9^2 + 12^2} = \sqrt{225} = 15$.
            The triangle's area is $\frac{1}{2} \cdot 9 \cdot 12 = 54$ and its semiperimeter is $s = \frac{9 + 12 + 15}{2} = 18$, so the inradius is $r = \frac{54}{18} = 3$.
            The area of the circle is $\pi r^2 = 9\pi$.
            The answer is $\boxed{9\pi}$.
            """
        ),
    ),
)
