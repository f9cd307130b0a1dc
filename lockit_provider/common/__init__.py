"""What operators, sensors and triggers share: task defaults, clip names, where results go.

The flow is one-way: operators and sensors import triggers and this package; triggers import this
package and the hooks; nothing here imports an operator, a sensor or a trigger.
"""
